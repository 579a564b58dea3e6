// Join (set a password with a one-time code), sign-up at an event and SMS codes; uses window.jifen from app.js.
"use strict";
(function () {
  var msg = document.documentElement.lang === "en"
    ? { mismatch: "The two passwords differ.", sent: "Code sent. It works for 5 minutes.", phone: "Enter your mobile number first.", wait: "s" }
    : { mismatch: "两次输入的密码不一致。", sent: "验证码已发送，5 分钟内有效。", phone: "请先填写手机号。", wait: "秒" };

  function error(form, text) {
    var box = form.querySelector("[data-error]");
    if (box) { box.textContent = text; box.hidden = false; } else { window.jifen.toast(text); }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var repeat = form.querySelector("#password-repeat");
    if (repeat && repeat.value !== form.elements.password.value) {
      ev.preventDefault(); ev.stopImmediatePropagation(); ev.stopPropagation();
      error(form, msg.mismatch);
    }
  }, true);

  document.addEventListener("jifen:done", function (ev) {
    var form = ev.target;
    if (form.dataset.afterRegister === undefined) return;
    if (ev.detail && ev.detail.status === "pending_approval") {
      form.hidden = true;
      document.querySelector("[data-testid=registration-pending]").hidden = false;
    } else {
      location.href = form.dataset.afterRegister || "/";
    }
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-send-sms]");
    if (!button) return;
    ev.preventDefault();
    var form = button.form;
    var phone = form.elements.phone.value.trim();
    if (!phone) { error(form, msg.phone); return; }
    button.disabled = true;
    var label = button.textContent;
    window.jifen.api("POST", "/api/v1/auth/sms-code", { phone: phone }).then(function (data) {
      window.jifen.toast(msg.sent);
      var left = data.resend_after_s;
      var timer = setInterval(function () {
        left -= 1;
        button.textContent = left > 0 ? left + msg.wait : label;
        if (left <= 0) { clearInterval(timer); button.disabled = false; }
      }, 1000);
    }).catch(function (err) { error(form, err.message); button.disabled = false; });
  });

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest("[data-login-mode]");
    if (!link) return;
    ev.preventDefault();
    var sms = link.dataset.loginMode === "sms";
    var password = document.getElementById("login-form");
    var smsForm = document.getElementById("sms-login-form");
    if (!smsForm) {  // kept in a <template> until asked for: the page starts with one form
      smsForm = document.getElementById("sms-login-template").content.firstElementChild.cloneNode(true);
      password.after(smsForm);
    }
    password.hidden = sms;
    smsForm.hidden = !sms;
    document.querySelector("[data-login-mode=sms]").hidden = sms;
    document.querySelector("[data-login-mode=password]").hidden = !sms;
  });
})();
