// Jifen pages: forms post JSON to the API with the CSRF header; no framework, no build step.
"use strict";
(function () {
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  var texts = null;
  function t(key) {
    // Messages the scripts show, translated by the page (base.html puts them in #jifen-text).
    if (texts === null) {
      var el = document.getElementById("jifen-text");
      try { texts = el ? JSON.parse(el.textContent) : {}; } catch (e) { texts = {}; }
    }
    return texts[key] || key;
  }
  function fill(template, data) {
    // "{offer.title} ({member_name})" with the response's fields; the result is shown as text, never HTML.
    return template.replace(/\{([\w.]+)\}/g, function (_, path) {
      var value = path.split(".").reduce(function (o, k) { return o == null ? o : o[k]; }, data);
      return value == null ? "" : String(value);
    });
  }
  function flash(text) {
    // Shown after the reload or the next page: the person acting sees what just happened.
    try { sessionStorage.setItem("jifen_flash", text); } catch (e) { /* private mode: the toast still shows */ }
  }
  function showFlash() {
    var text = null;
    try { text = sessionStorage.getItem("jifen_flash"); sessionStorage.removeItem("jifen_flash"); } catch (e) { return; }
    var box = document.getElementById("flash");
    if (text && box) { box.textContent = text; box.hidden = false; }
  }
  function geoError(e) {
    // Browsers word these in English ("User denied Geolocation"): say it in the page's language.
    var code = e && e.code;
    return t(code === 1 ? "geo_denied" : code === 3 ? "geo_timeout" : code === 2 ? "geo_unavailable" : "geo_unsupported");
  }
  function okText(el, data) {
    var key = data && data.repeated ? "okRepeated" : data && data.status ? "ok" + String(data.status).replace(/(^|_)(\w)/g, function (_, __, c) { return c.toUpperCase(); }) : "";
    // A change that widens risk answers 202 with a proposal: say it waits for another admin.
    var waits = data && data.proposal && data.status === "pending" ? t("proposal_pending") : "";
    var template = (key && el.dataset[key]) || waits || el.dataset.ok;
    return template ? fill(template, data || {}) : "";
  }
  function toast(text) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text; t.hidden = false;
    clearTimeout(t._timer); t._timer = setTimeout(function () { t.hidden = true; }, 3500);
  }
  async function api(method, url, body, extraHeaders) {
    // Errors come back in the page's language, whatever the browser's own language is.
    var headers = Object.assign({ "Accept": "application/json", "Accept-Language": document.documentElement.lang || "zh-CN", "X-CSRF-Token": cookie("jifen_csrf") }, extraHeaders || {});
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      if (typeof body === "string" || body instanceof Blob) { init.body = body; }
      else { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    }
    var res;
    try { res = await fetch(url, init); }
    catch (e) { var offline = new Error(t("network")); offline.status = 0; throw offline; }
    var data = null;
    var type = res.headers.get("content-type") || "";
    if (type.indexOf("json") >= 0) { data = await res.json(); }
    if (!res.ok) {
      var err = new Error((data && data.detail) || t("http_error"));
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
      // The detail already names the problem; add only what it does not say (no field codes, no repeats).
      err.data.errors.forEach(function (e) {
        if (e.message && text.indexOf(e.message) < 0) { text += "\n" + e.message; }
      });
    }
    if (box) { box.textContent = text; box.hidden = false; } else { toast(text); }
  }
  async function submitApi(form) {
    var box = form.querySelector("[data-error]");
    if (box) box.hidden = true;
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      if (!confirmSpend(form)) return;
      var method = form.dataset.method || "POST";
      var headers = form.dataset.idempotent !== undefined ? { "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random() } : {};
      var data = await api(method, form.dataset.api, form.dataset.empty !== undefined ? {} : formBody(form), headers);
      form.dispatchEvent(new CustomEvent("jifen:done", { detail: data, bubbles: true }));
      // data-show: a result to keep on the page (a one-time code to write down), not a passing toast.
      var shown = form.dataset.show !== undefined && form.querySelector("[data-shown]");
      if (shown) { shown.textContent = fill(form.dataset.show, data || {}); shown.hidden = false; }
      var said = okText(form, data);
      if (form.dataset.next !== undefined) { if (said) flash(said); location.href = form.dataset.next || "/"; }
      else if (form.dataset.reload !== undefined) { if (said) flash(said); location.reload(); }
      else if (said) { toast(said); }
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
        report.textContent = fill(t("import_report"), data) + (data.errors.length ? "\n" + data.errors.map(function (e) { return fill(t("import_line"), e); }).join("\n") : "");
        report.hidden = false;
      }).catch(function (err) { showError(form, err); });
    }
  });
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-logout]");
    if (el) {
      // The pages kept for offline use show the person's own code: they leave with the login.
      var sw = navigator.serviceWorker && navigator.serviceWorker.controller;
      if (sw) sw.postMessage({ forget: true });
      api("POST", "/api/v1/auth/logout").finally(function () { location.href = "/login"; });
    }
    var act = ev.target.closest("[data-action]");
    if (act) {
      ev.preventDefault();
      if (act.dataset.confirm && !confirm(act.dataset.confirm)) return;
      act.disabled = true;
      api(act.dataset.method || "POST", act.dataset.action, act.dataset.body ? JSON.parse(act.dataset.body) : {})
        .then(function (data) {
          var said = okText(act, data);
          if (said) flash(said);
          if (act.dataset.next) location.href = act.dataset.next; else location.reload();
        })
        .catch(function (err) { toast(err.message); act.disabled = false; });
    }
  });
  function confirmSpend(form) {
    // Spending many points takes a second, deliberate tap (data-confirm-points: price of one).
    var price = parseInt(form.dataset.confirmPoints || "", 10);
    if (!price) return true;
    var quantity = form.elements.quantity ? parseInt(form.elements.quantity.value, 10) || 1 : 1;
    var total = price * quantity;
    if (total < parseInt(form.dataset.confirmAbove || "0", 10)) return true;
    return confirm(fill(form.dataset.confirmText || t("confirm_spend"), { points: total }));
  }
  function labelTables() {
    // On a phone a table row becomes a card: each cell carries its column's heading (see app.css).
    Array.prototype.forEach.call(document.querySelectorAll("table.list"), function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        Array.prototype.forEach.call(tr.children, function (td, i) {
          if (!td.hasAttribute("data-label") && heads[i] && !td.hasAttribute("colspan")) td.setAttribute("data-label", heads[i]);
        });
      });
    });
  }
  function countdowns() {
    // <span data-countdown="ISO time" data-wait="Check-out opens in" data-ready="...">: a live timer
    // (the check-in page and the home page's open check-in).
    var spans = document.querySelectorAll("[data-countdown]");
    if (!spans.length) return;
    function tick() {
      Array.prototype.forEach.call(spans, function (el) {
        var left = Math.ceil((Date.parse(el.dataset.countdown) - Date.now()) / 1000);
        if (left <= 0) { el.textContent = el.dataset.ready; el.classList.add("ok"); return; }
        var m = Math.floor(left / 60), s = left % 60;
        el.textContent = el.dataset.wait + " " + m + ":" + (s < 10 ? "0" : "") + s;
      });
    }
    tick();
    setInterval(tick, 1000);
  }
  function worker() {
    // Jifen's own offline page instead of the browser's error page, and the pages marked
    // data-keep-offline (the scanner, the personal code) kept on the phone (service/web/sw.js).
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* no worker: pages still work online */ });
    if (!document.querySelector("[data-keep-offline]") || !navigator.onLine) return;
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.active) reg.active.postMessage({ keep: [location.href] });
    });
  }
  function ready() { showFlash(); labelTables(); countdowns(); worker(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
  window.jifen = { api: api, toast: toast, cookie: cookie, t: t, fill: fill, flash: flash, geoError: geoError, okText: okText };
})();
