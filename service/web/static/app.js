// Jifen pages: forms post JSON to the API with the CSRF header; no framework, no build step.
"use strict";
(function () {
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text; t.hidden = false;
    clearTimeout(t._timer); t._timer = setTimeout(function () { t.hidden = true; }, 3500);
  }
  async function api(method, url, body, extraHeaders) {
    var headers = Object.assign({ "Accept": "application/json", "X-CSRF-Token": cookie("jifen_csrf") }, extraHeaders || {});
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      if (typeof body === "string" || body instanceof Blob) { init.body = body; }
      else { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    }
    var res = await fetch(url, init);
    var data = null;
    var type = res.headers.get("content-type") || "";
    if (type.indexOf("json") >= 0) { data = await res.json(); }
    if (!res.ok) {
      var err = new Error((data && (data.detail || data.title)) || ("HTTP " + res.status));
      err.status = res.status; err.data = data; throw err;
    }
    return data;
  }
  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit" || el.type === "file") return;
      if (el.type === "checkbox" && el.dataset.list !== undefined) {
        body[el.name] = body[el.name] || [];
        if (el.checked) body[el.name].push(el.value);
        return;
      }
      if (el.type === "checkbox") { body[el.name] = el.checked; return; }
      if (el.value === "") return;
      body[el.name] = el.dataset.type === "int" ? parseInt(el.value, 10)
        : el.dataset.type === "float" ? parseFloat(el.value)
        : el.dataset.type === "datetime" ? new Date(el.value).toISOString() : el.value;
    });
    return body;
  }
  function showError(form, err) {
    var box = form.querySelector("[data-error]");
    var text = err.message;
    if (err.data && err.data.errors && err.data.errors.length) {
      text += "\n" + err.data.errors.map(function (e) { return e.field + ": " + e.message; }).join("\n");
    }
    if (box) { box.textContent = text; box.hidden = false; } else { toast(text); }
  }
  async function submitApi(form) {
    var box = form.querySelector("[data-error]");
    if (box) box.hidden = true;
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      var method = form.dataset.method || "POST";
      var headers = form.dataset.idempotent !== undefined ? { "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random() } : {};
      var data = await api(method, form.dataset.api, form.dataset.empty !== undefined ? {} : formBody(form), headers);
      form.dispatchEvent(new CustomEvent("jifen:done", { detail: data, bubbles: true }));
      if (form.dataset.next !== undefined) { location.href = form.dataset.next || "/"; }
      else if (form.dataset.reload !== undefined) { location.reload(); }
      else if (form.dataset.ok) { toast(form.dataset.ok); }
    } catch (err) { showError(form, err); }
    finally { if (button) button.disabled = false; }
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset.api) { ev.preventDefault(); submitApi(form); }
    else if (form.dataset.import) {
      ev.preventDefault();
      var file = form.elements.file.files[0];
      if (!file) return;
      var url = form.dataset.import + (form.elements.skip_bad.checked ? "?skip_bad=true" : "");
      var report = form.querySelector("[data-report]");
      var box = form.querySelector("[data-error]");
      if (box) box.hidden = true;
      report.hidden = true;
      api("POST", url, file, { "Content-Type": "text/csv" }).then(function (data) {
        report.textContent = "+" + data.created + " / " + data.updated + (data.errors.length ? "\n" + data.errors.map(function (e) { return e.line + ": " + e.message; }).join("\n") : "");
        report.hidden = false;
      }).catch(function (err) { showError(form, err); });
    }
  });
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-logout]");
    if (el) { api("POST", "/api/v1/auth/logout").finally(function () { location.href = "/login"; }); }
    var act = ev.target.closest("[data-action]");
    if (act) {
      ev.preventDefault();
      if (act.dataset.confirm && !confirm(act.dataset.confirm)) return;
      act.disabled = true;
      api(act.dataset.method || "POST", act.dataset.action, act.dataset.body ? JSON.parse(act.dataset.body) : {})
        .then(function () { if (act.dataset.next) location.href = act.dataset.next; else location.reload(); })
        .catch(function (err) { toast(err.message); act.disabled = false; });
    }
  });
  window.jifen = { api: api, toast: toast, cookie: cookie };
})();
