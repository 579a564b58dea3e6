// Kiosk screen: the rotating check-in QR and the live count. The kiosk makes its codes itself with the
// key the page was given (docs/offline.md, "The kiosk's offline rotating code"), so the code keeps
// rotating while the network is down; volunteers' phones that are online still check in with it.
// The count is polled; a failed or slow poll shows the offline warning, the next good one clears it.
// ES5 and XMLHttpRequest, so it runs on an old Android tablet's browser; HMAC-SHA256 by WebCrypto
// where the page may use it (a secure context), else by the small implementation below.
(function () {
  var box = document.getElementById("kiosk");
  if (!box) return;
  var aid = box.getAttribute("data-aid");
  var img = document.getElementById("kiosk-qr");
  var count = document.getElementById("kiosk-count");
  var status = document.getElementById("kiosk-status");
  var onlineText = status ? status.textContent : "";
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var POLL_MS = 3000;
  var POLL_TIMEOUT_MS = 3000;
  var STEP_S = parseInt(box.getAttribute("data-step"), 10) || 15;
  var kioskId = parseInt(box.getAttribute("data-kiosk-id"), 10);
  var validUntil = parseInt(box.getAttribute("data-valid-until"), 10);
  var keyBytes = b64decode(box.getAttribute("data-kiosk-key") || "");
  var publicUrl = box.getAttribute("data-public-url") || "";
  var renewable = box.getAttribute("data-renewable") === "1";
  var expired = false;
  var offsetMs = (parseInt(box.getAttribute("data-server-ms"), 10) || Date.now()) - Date.now();
  var aidBytes = uuidBytes(aid);
  var shownStep = -1;
  var offline = false;

  function now() { return Date.now() + offsetMs; }

  function uuidBytes(text) {
    var hex = text.replace(/-/g, ""), out = [];
    for (var i = 0; i < 32; i += 2) out.push(parseInt(hex.substr(i, 2), 16));
    return out;
  }
  function u32(n) { return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]; }
  function b64encode(bytes) {
    var out = "", i;
    for (i = 0; i < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      out += B64.charAt((n >>> 18) & 63) + B64.charAt((n >>> 12) & 63);
      if (i + 1 < bytes.length) out += B64.charAt((n >>> 6) & 63);
      if (i + 2 < bytes.length) out += B64.charAt(n & 63);
    }
    return out;
  }
  function b64decode(text) {
    var out = [], bits = 0, acc = 0;
    for (var i = 0; i < text.length; i++) {
      var v = B64.indexOf(text.charAt(i));
      if (v < 0) continue;
      acc = (acc << 6) | v; bits += 6;
      if (bits >= 8) { bits -= 8; out.push((acc >>> bits) & 255); }
    }
    return out;
  }

  // SHA-256 and HMAC (FIPS 180-4, RFC 2104) for browsers without WebCrypto.
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var msg = bytes.slice(), bitLen = bytes.length * 8, w = new Array(64), i, j;
    msg.push(0x80);
    while (msg.length % 64 !== 56) msg.push(0);
    msg = msg.concat([0, 0, 0, 0], u32(bitLen));
    for (i = 0; i < msg.length; i += 64) {
      for (j = 0; j < 16; j++) {
        w[j] = (msg[i + 4 * j] << 24) | (msg[i + 4 * j + 1] << 16) | (msg[i + 4 * j + 2] << 8) | msg[i + 4 * j + 3];
      }
      for (j = 16; j < 64; j++) {
        var a = w[j - 15], b = w[j - 2];
        var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[j] = (w[j - 16] + s0 + w[j - 7] + s1) | 0;
      }
      var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (j = 0; j < 64; j++) {
        var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        var t1 = (H + S1 + ((E & F) ^ (~E & G)) + K[j] + w[j]) | 0;
        var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        var t2 = (S0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
        H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
      }
      h[0] = (h[0] + A) | 0; h[1] = (h[1] + B) | 0; h[2] = (h[2] + C) | 0; h[3] = (h[3] + D) | 0;
      h[4] = (h[4] + E) | 0; h[5] = (h[5] + F) | 0; h[6] = (h[6] + G) | 0; h[7] = (h[7] + H) | 0;
    }
    var out = [];
    for (i = 0; i < 8; i++) out = out.concat(u32(h[i]));
    return out;
  }
  function hmacJs(key, data) {
    var k = key.length > 64 ? sha256(key) : key.slice(), ipad = [], opad = [];
    while (k.length < 64) k.push(0);
    for (var i = 0; i < 64; i++) { ipad.push(k[i] ^ 0x36); opad.push(k[i] ^ 0x5c); }
    return sha256(opad.concat(sha256(ipad.concat(data))));
  }
  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;
  var cryptoKey = null;
  function hmac(data, done) {
    if (!subtle) { done(hmacJs(keyBytes, data)); return; }
    var sign = function (k) {
      return subtle.sign("HMAC", k, new Uint8Array(data)).then(function (sig) {
        done(Array.prototype.slice.call(new Uint8Array(sig)));
      });
    };
    if (cryptoKey) { sign(cryptoKey); return; }
    subtle.importKey("raw", new Uint8Array(keyBytes), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
      .then(function (k) { cryptoKey = k; return sign(k); })
      .catch(function () { subtle = null; done(hmacJs(keyBytes, data)); });
  }

  function makeToken(step, done) {
    var payload = [3].concat(aidBytes, u32(step), u32(kioskId), u32(validUntil));
    hmac(payload, function (mac) { done(b64encode(payload.concat(mac.slice(0, 10)))); });
  }
  window.jifenKioskToken = makeToken;  // for tests: the code of a given step

  function show(token) {
    var url = publicUrl + "/c/" + token;
    try {
      var qr = qrcode(0, "M");
      qr.addData(url);
      qr.make();
      img.src = qr.createDataURL(12, 2);
    } catch (e) {
      return;
    }
    box.setAttribute("data-token", token);
    box.setAttribute("data-url", url);
  }
  function tick() {
    var t = now();
    if (t / 1000 > validUntil || !keyBytes.length) {
      // The key ran out (the activity is over, or a long one needs a new key): no code to show.
      if (!expired) {
        expired = true;
        img.style.visibility = "hidden";
        if (status) status.textContent = status.getAttribute("data-expired") || "";
        if (renewable && !offline) location.reload();
      }
      return;
    }
    var step = Math.floor(t / 1000 / STEP_S);
    if (step !== shownStep) {
      shownStep = step;
      makeToken(step, show);
    }
  }

  function setOffline(on) {
    offline = on;
    box.className = on ? "kiosk-box offline" : "kiosk-box";
    if (status && !expired) status.textContent = on ? (status.getAttribute("data-offline") || "!") : onlineText;
  }
  function poll() {
    var xhr = new XMLHttpRequest();
    var done = false;
    function finish(ok, data) {
      if (done) return;
      done = true;
      if (ok && data) {
        count.textContent = String(data.checked_in_count);
        setOffline(false);
        if (renewable && validUntil - now() / 1000 < 3600) { location.reload(); return; }  // a longer key
      } else {
        setOffline(true);
      }
      setTimeout(poll, POLL_MS);
    }
    xhr.open("GET", "/api/v1/activities/" + aid + "/kiosk", true);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.timeout = POLL_TIMEOUT_MS;
    xhr.ontimeout = function () { finish(false, null); };
    xhr.onerror = function () { finish(false, null); };
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4 || xhr.status === 0) return;
      var data = null;
      if (xhr.status === 200) {
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      }
      finish(xhr.status === 200, data);
    };
    try { xhr.send(null); } catch (e) { finish(false, null); }
  }

  tick();
  setInterval(tick, 500);
  setTimeout(poll, POLL_MS);
})();
