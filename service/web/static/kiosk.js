// Kiosk screen: refresh the rotating check-in QR and the live count. ES5 and XMLHttpRequest only,
// so it runs on an old Android tablet's browser.
(function () {
  var box = document.getElementById("kiosk");
  if (!box) return;
  var aid = box.getAttribute("data-aid");
  var token = box.getAttribute("data-token");
  var img = document.getElementById("kiosk-qr");
  var count = document.getElementById("kiosk-count");
  var status = document.getElementById("kiosk-status");
  var POLL_MS = 3000;
  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", "/api/v1/activities/" + aid + "/kiosk", true);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) return;
      if (xhr.status === 200) {
        var data;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (data) {
          if (data.token !== token) {
            token = data.token;
            img.src = "/api/v1/activities/" + aid + "/qr.png?box=12&v=" + encodeURIComponent(token);
          }
          count.textContent = String(data.checked_in_count);
          box.className = "kiosk-box";
        }
      } else {
        box.className = "kiosk-box offline";
        if (status) status.textContent = status.getAttribute("data-offline") || ("! " + xhr.status);
      }
      setTimeout(poll, POLL_MS);
    };
    xhr.send(null);
  }
  setTimeout(poll, POLL_MS);
})();
