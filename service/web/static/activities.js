// Activities pages: open the new activity after creating it; geolocated check-in.
(function () {
  document.addEventListener("jifen:done", function (ev) {
    if (ev.target && ev.target.hasAttribute && ev.target.hasAttribute("data-goto-activity") && ev.detail && ev.detail.id) {
      location.href = "/activities/" + ev.detail.id;
    }
  });
  var use = document.getElementById("use-location");
  if (use) {
    use.addEventListener("click", function () {
      var form = use.form, err = document.getElementById("use-location-error");
      function fail(text) { err.textContent = text; err.hidden = false; use.disabled = false; }
      err.hidden = true;
      if (!navigator.geolocation) { fail(window.jifen.t("geo_unsupported")); return; }
      use.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.elements.lat.value = pos.coords.latitude.toFixed(6);
        form.elements.lng.value = pos.coords.longitude.toFixed(6);
        if (!form.elements.radius_m.value) { form.elements.radius_m.value = use.getAttribute("data-radius"); }
        use.disabled = false;
      }, function (e) { fail(window.jifen.geoError(e)); }, { enableHighAccuracy: true, timeout: 15000 });
    });
  }
  var box = document.getElementById("locate");
  if (!box) return;
  var button = document.getElementById("locate-button");
  var err = document.getElementById("locate-error");
  var ok = document.getElementById("locate-ok");
  function fail(text) { err.textContent = text; err.hidden = false; button.disabled = false; }
  button.addEventListener("click", function () {
    button.disabled = true; err.hidden = true;
    if (!navigator.geolocation) { fail(window.jifen.t("geo_unsupported")); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      window.jifen.api("POST", "/api/v1/checkins", {
        token: box.getAttribute("data-token"), lat: pos.coords.latitude, lng: pos.coords.longitude
      }).then(function (data) {
        var key = data.repeated ? "already_in" : data.status === "checked_out" ? "checked_out" : "checked_in";
        ok.textContent = window.jifen.fill(window.jifen.t(key), data);
        ok.hidden = false;
      }).catch(function (e) { fail(e.message); });
    }, function (e) { fail(window.jifen.geoError(e)); }, { enableHighAccuracy: true, timeout: 15000 });
  });
})();
