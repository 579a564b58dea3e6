// After a claim is submitted, upload its photos one by one as raw bodies (the server re-encodes them).
"use strict";
document.addEventListener("jifen:done", async function (ev) {
  var form = ev.target;
  if (!form.matches || !form.matches("form[data-claim-photos]")) return;
  var input = form.querySelector("input[type=file]");
  var files = input && input.files ? Array.prototype.slice.call(input.files, 0, 4) : [];
  for (var i = 0; i < files.length; i++) {
    try {
      await window.jifen.api("POST", "/api/v1/claims/" + ev.detail.id + "/photos", files[i], { "Content-Type": files[i].type || "application/octet-stream" });
    } catch (err) { window.jifen.toast(err.message); }
  }
  location.reload();
});
