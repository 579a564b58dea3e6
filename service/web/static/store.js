// Product image upload for the store admin page: the file goes as the raw request body.
"use strict";
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  if (!form.dataset.upload) return;
  ev.preventDefault();
  var file = form.elements.image.files[0];
  if (!file) return;
  var box = form.querySelector("[data-error]");
  window.jifen.api("PUT", form.dataset.upload, file, { "Content-Type": file.type || "application/octet-stream" })
    .then(function () { location.reload(); })
    .catch(function (err) { if (box) { box.textContent = err.message; box.hidden = false; } });
});
