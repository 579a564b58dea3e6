// Records pages: open the certificate just issued.
(function () {
  document.addEventListener("jifen:done", function (ev) {
    if (ev.target && ev.target.hasAttribute && ev.target.hasAttribute("data-goto-certificate") && ev.detail && ev.detail.id) {
      location.href = "/certificates/" + ev.detail.id;
    }
  });
})();
