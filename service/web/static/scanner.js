// The offline scanner (/scan): organizers check people in with the phone camera, with or
// without a network. While online it keeps the chosen activity's offline kit (the activity, its roster,
// the public key, the revocation list) in IndexedDB; each scan is checked on the phone (Ed25519
// signature, revocation, roster) and queued with this device's id, a nonce and the scan time; the queue
// is sent to POST /api/v1/scans/sync when the network answers again (exactly once: the server dedupes
// by nonce). Libraries: jsQR (decoding), idb (IndexedDB), WebCrypto Ed25519 or @noble/ed25519.
"use strict";
// ------------------------------------------------------------ signed codes, checked on the phone
// A member card or personal code is base64url(payload || signature), 142 characters; the 42-byte
// payload is [format 1][kind: 1 card, 2 personal][key id, 4 bytes][community, 16 bytes (zero for a
// personal code)][member, 16 bytes][version, 4 bytes] and the signature is Ed25519 over it
// (service/kit/signing.py and docs/offline.md say the same).
(function () {
  var CODE_CHARS = 142, PAYLOAD = 42, KIND_CARD = 1, KIND_PERSONAL = 2;
  var LEGACY = /^[A-Za-z0-9_-]{32}$/;  // an unsigned card token (cards printed before signed codes)
  var keys = {};  // key id -> verify(signature, payload) -> Promise<boolean>
  var noble = null;
  function unb64(text) {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
    var b = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b.length % 4) b += "=";
    try {
      var bin = atob(b), out = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    } catch (e) { return null; }
  }
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function uuid(bytes) {
    var h = hex(bytes);
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function u32(b, at) { return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3]; }
  function codeOf(text) {
    // A printed card's QR is {public_url}/m/{code}; a personal code's QR is the bare code.
    text = String(text || "").trim();
    var at = text.lastIndexOf("/m/");
    return at >= 0 ? text.slice(at + 3).split(/[?#]/)[0] : text;
  }
  function parse(text) {
    text = codeOf(text);
    if (text.length !== CODE_CHARS) return null;
    var raw = unb64(text);
    if (!raw || raw.length !== PAYLOAD + 64 || raw[0] !== 1) return null;
    var kind = raw[1];
    if (kind !== KIND_CARD && kind !== KIND_PERSONAL) return null;
    var community = uuid(raw.subarray(6, 22));
    var nil = community === "00000000-0000-0000-0000-000000000000";
    if ((kind === KIND_CARD) === nil) return null;
    return {
      kind: kind, key_id: u32(raw, 2), community_id: nil ? null : community,
      member_id: uuid(raw.subarray(22, 38)), version: u32(raw, 38),
      payload: raw.subarray(0, PAYLOAD), signature: raw.subarray(PAYLOAD),
    };
  }
  async function verifier(rawKey) {
    // WebCrypto's Ed25519 where the browser has it (Chromium 137+, Safari 17+, Firefox 129+), else the
    // vendored @noble/ed25519 (loaded only then).
    try {
      var key = await crypto.subtle.importKey("raw", rawKey, { name: "Ed25519" }, false, ["verify"]);
      return function (sig, payload) { return crypto.subtle.verify({ name: "Ed25519" }, key, sig, payload); };
    } catch (e) {
      if (!noble) noble = await import(document.getElementById("scanner").dataset.noble);
      return function (sig, payload) { return noble.verifyAsync(sig, payload, rawKey).catch(function () { return false; }); };
    }
  }
  var K = {
    // Where the kit keeps what the scanner reads (docs/offline.md).
    keys: function (kit) { return kit.keys || []; },
    roster: function (kit) { return kit.roster || []; },
    revoked: function (kit) { return kit.revoked || []; },
    community: function (kit) { return kit.activity.community_id; },
  };
  async function prepare(record) {
    var list = K.keys(record.kit);
    for (var i = 0; i < list.length; i++) {
      var id = Number(list[i].key_id);
      if (!keys[id]) keys[id] = await verifier(unb64(list[i].public_key));
    }
    var roster = {};
    K.roster(record.kit).forEach(function (m) { roster[m.member_id] = m; });
    var revoked = {};
    K.revoked(record.kit).forEach(function (r) { revoked[[r.kind, r.community_id || "", r.member_id, r.version].join(":")] = true; });
    record.index = { roster: roster, revoked: revoked };
  }
  async function check(record, text, say) {
    // {ok, member_id, name, kind} or {ok: false, reason}: the same checks the server makes at sync,
    // with what this phone knew when the kit was fetched.
    var code = parse(text);
    if (!code && LEGACY.test(codeOf(text))) {
      // A card printed before signed codes: nothing to verify here, the server decides at sync.
      return { ok: true, unverified: true, member_id: codeOf(text), name: say.unverified_name, code: codeOf(text) };
    }
    if (!code) return { ok: false, reason: say.not_a_code };
    if (!record.index) await prepare(record);
    var verify = keys[code.key_id];
    if (!verify || !(await verify(code.signature, code.payload))) return { ok: false, reason: say.forged };
    if (code.kind === KIND_CARD && code.community_id !== K.community(record.kit)) return { ok: false, reason: say.other_community };
    if (record.index.revoked[[code.kind, code.community_id || "", code.member_id, code.version].join(":")]) return { ok: false, reason: say.revoked };
    var member = record.index.roster[code.member_id];
    if (!member && record.kit.roster_truncated) member = { name: say.unverified_name };  // the server knows
    if (!member) return { ok: false, reason: say.not_member };
    var current = code.kind === KIND_CARD ? member.card_version : member.code_version;
    if (current !== undefined && code.version !== current) return { ok: false, reason: say.revoked };
    return { ok: true, member_id: code.member_id, name: member.name, kind: code.kind === KIND_CARD ? "card" : "personal", code: codeOf(text) };
  }
  window.jifenScannerCodes = {
    parse: parse, prepare: prepare, check: check,
    rosterSize: function (kit) { return K.roster(kit).length; },
  };
})();

(function () {
  var root = document.getElementById("scanner");
  if (!root) return;
  var TEXT = JSON.parse(document.getElementById("scanner-text").textContent);
  var SLOW_MS = 3000;          // a request slower than this switches the scanner to offline mode
  var PROBE_MS = 15000;        // while offline, ask the server this often whether it is back
  var REPEAT_MS = 60000;       // the same person scanned again within this is the camera re-reading
  var BATCH = 100;             // scans per upload (the server's limit per request)
  var CAMERA_EVERY_MS = 150;
  var KIT_KEEP_MS = 7 * 24 * 3600 * 1000;  // a kit is forgotten a week after its activity's scans end
  var $ = function (id) { return document.getElementById(id); };
  var TIME = { timeZone: root.dataset.tz || undefined };  // the community's clock, as the pages show it
  var state = { online: navigator.onLine, kit: null, aid: null, device: null, db: null, recent: {}, syncing: null };

  // ------------------------------------------------------------ storage (idb, vendored)
  function openStore() {
    return idb.openDB("jifen-scanner", 1, {
      upgrade: function (db) {
        db.createObjectStore("kits", { keyPath: "activity_id" });
        var scans = db.createObjectStore("scans", { keyPath: "nonce" });
        scans.createIndex("state", "state");
        db.createObjectStore("meta");
      },
    });
  }
  function randomId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  async function deviceId() {
    var id = await state.db.get("meta", "device_id");
    if (!id) { id = "scanner-" + randomId(); await state.db.put("meta", id, "device_id"); }
    return id;
  }

  // ------------------------------------------------------------ network: offline by itself
  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  async function request(method, url, body) {
    // Every call gives up after SLOW_MS: a village square's "one bar" is as good as none.
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, SLOW_MS);
    var init = {
      method: method, signal: ctl.signal, credentials: "same-origin",
      headers: { "Accept": "application/json", "Accept-Language": "zh-CN", "X-CSRF-Token": cookie("jifen_csrf") },
    };
    if (body) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    try {
      var res = await fetch(url, init);
      setOnline(true);
      var data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (!res.ok) { var err = new Error((data && data.detail) || TEXT.server_error); err.status = res.status; err.data = data; throw err; }
      return data;
    } catch (e) {
      if (e.status === undefined) { setOnline(false); e.offline = true; }
      throw e;
    } finally { clearTimeout(timer); }
  }
  function setOnline(up) {
    var changed = up !== state.online;
    state.online = up;
    root.dataset.online = up ? "1" : "0";
    $("net").textContent = up ? TEXT.online : TEXT.offline;
    $("net").className = "net " + (up ? "ok" : "off");
    if (changed && up) { sync(false); }
  }
  async function probe() {
    if (state.online && navigator.onLine) return;
    try { await request("GET", "/healthz"); } catch (e) { /* still offline */ }
  }

  // ------------------------------------------------------------ the kit
  async function loadKit(aid) {
    state.aid = aid;
    state.kit = aid ? await state.db.get("kits", aid) : null;
    showKit();
    if (aid && state.online) await downloadKit(aid).catch(function () { /* kept kit stays */ });
  }
  async function downloadKit(aid) {
    $("kit-status").textContent = TEXT.kit_loading;
    try {
      var kit = await request("GET", "/api/v1/activities/" + encodeURIComponent(aid) + "/offline-kit");
      state.kit = { activity_id: aid, kit: kit, fetched_at: new Date().toISOString() };
      await state.db.put("kits", state.kit);
      await codes.prepare(state.kit);
    } catch (e) {
      if (!e.offline) { $("kit-status").textContent = e.message; throw e; }
    }
    showKit();
  }
  function showKit() {
    var k = state.kit;
    root.dataset.kit = k ? "1" : "0";
    if (!k) { $("kit-status").textContent = state.aid ? TEXT.kit_missing : ""; return; }
    $("kit-status").textContent = TEXT.kit_ready
      .replace("{n}", String(codes.rosterSize(k.kit)))
      .replace("{time}", new Date(k.fetched_at).toLocaleString("zh-CN", TIME));
    // The server refuses scans whose time is off by more than its bound: say so while it can be fixed.
    var driftMs = Math.abs(Date.parse(k.fetched_at) - Date.parse(k.kit.server_time));
    var boundMs = ((k.kit.limits && k.kit.limits.clock_drift_max_seconds) || 300) * 1000;
    $("clock-warning").hidden = !(driftMs > boundMs / 2);
  }

  // ------------------------------------------------------------ one scan
  function outsideWindow(kit, t) {
    // The server refuses scans before check-in opens and after the poster's grace (outside_window):
    // say so at once rather than queue a scan that cannot count.
    var act = kit.kit.activity || {};
    var from = Date.parse(act.checkin_opens_at), until = Date.parse(act.scans_until);
    if (isNaN(from) || isNaN(until) || (t >= from && t <= until)) return "";
    var when = function (ms) { return new Date(ms).toLocaleString("zh-CN", TIME); };
    return TEXT.outside_window.replace("{from}", when(from)).replace("{until}", when(until));
  }
  async function forgetOldKits() {
    // A kit holds the community's roster (masked names): kept a week after its activity's scans end.
    var kits = await state.db.getAll("kits");
    for (var i = 0; i < kits.length; i++) {
      var until = Date.parse(((kits[i].kit || {}).activity || {}).scans_until);
      if (!isNaN(until) && Date.now() - until > KIT_KEEP_MS) await state.db.delete("kits", kits[i].activity_id);
    }
  }
  async function onText(text, source) {
    if (!state.kit) { show("refused", TEXT.no_kit); return; }
    var late = outsideWindow(state.kit, Date.now());
    if (late) { show("refused", late); return; }
    var checked = await codes.check(state.kit, text, TEXT.local);
    if (!checked.ok) { show("refused", checked.reason); return; }
    var key = checked.member_id;
    var now = Date.now();
    if (source === "camera" && state.recent[key] && now - state.recent[key] < REPEAT_MS) return;
    state.recent[key] = now;
    var scan = {
      nonce: randomId(), activity_id: state.aid, code: checked.code, scanned_at: new Date(now).toISOString(),
      device_id: state.device, state: "queued", name: checked.name, kind: checked.kind,
    };
    await state.db.put("scans", scan);
    show("queued", TEXT.queued.replace("{name}", checked.name));
    await render();
    if (state.online) sync(false);
  }
  function show(kind, text) {
    var box = $("last-result");
    box.textContent = text;
    box.className = "result " + kind;
    box.dataset.kind = kind;
  }

  // ------------------------------------------------------------ decoding (jsQR, vendored)
  function decode(imageData) {
    var found = jsQR(imageData.data, imageData.width, imageData.height, { inversionAttempts: "attemptBoth" });
    return found ? found.data : "";
  }
  async function decodeFile(file) {
    var bitmap = await createImageBitmap(file);
    var canvas = document.createElement("canvas");
    var scale = Math.min(1, 1200 / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
  }
  async function onFiles(ev) {
    var files = Array.prototype.slice.call(ev.target.files || []);
    for (var i = 0; i < files.length; i++) {
      var text = await decodeFile(files[i]);
      if (text) await onText(text, "photo"); else show("refused", TEXT.no_code);
    }
    ev.target.value = "";
  }
  async function startCamera() {
    var video = $("camera");
    try {
      var stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) { show("refused", TEXT.camera_denied); return; }
    video.srcObject = stream; video.hidden = false;
    await video.play();
    $("camera-start").hidden = true; $("camera-stop").hidden = false;
    var canvas = document.createElement("canvas");
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    state.camera = setInterval(function () {
      if (!video.videoWidth || state.busy) return;
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      var text = decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (text) { state.busy = true; onText(text, "camera").finally(function () { state.busy = false; }); }
    }, CAMERA_EVERY_MS);
  }
  function stopCamera() {
    var video = $("camera");
    clearInterval(state.camera);
    if (video.srcObject) video.srcObject.getTracks().forEach(function (t) { t.stop(); });
    video.srcObject = null; video.hidden = true;
    $("camera-start").hidden = false; $("camera-stop").hidden = true;
  }

  // ------------------------------------------------------------ the queue and sync
  async function sync(all) {
    // One upload at a time; `all` sends every scan of this phone again (the server answers "duplicate"
    // for what it already has: safe after an upload whose answer was lost).
    if (state.syncing) return state.syncing;
    state.syncing = (async function () {
      var scans = all ? await state.db.getAll("scans") : await state.db.getAllFromIndex("scans", "state", "queued");
      scans.sort(function (a, b) { return a.scanned_at < b.scanned_at ? -1 : 1; });
      for (var i = 0; i < scans.length; i += BATCH) {
        var part = scans.slice(i, i + BATCH);
        var answer = await request("POST", "/api/v1/scans/sync", {
          device_id: state.device,
          sent_at: new Date().toISOString(),
          scans: part.map(function (s) { return { nonce: s.nonce, activity_id: s.activity_id, code: s.code, scanned_at: s.scanned_at }; }),
        });
        var byNonce = {};
        part.forEach(function (s) { byNonce[s.nonce] = s; });
        var tx = state.db.transaction("scans", "readwrite");
        (answer.results || []).forEach(function (r) {
          var s = byNonce[r.nonce];
          if (!s) return;
          // A refusal stays on screen with its reason when the same scan is uploaded again.
          if (!(r.status === "duplicate" && s.state === "refused")) { s.state = r.status; s.result_code = r.code || null; }
          s.synced_at = new Date().toISOString();
          tx.store.put(s);
        });
        await tx.done;
      }
      if (scans.length) await state.db.put("meta", new Date().toISOString(), "last_sync");
    })().catch(function (e) {
      if (!e.offline) show("refused", e.message);
    }).finally(function () { state.syncing = null; return render(); });
    return state.syncing;
  }
  async function render() {
    var all = await state.db.getAll("scans");
    all.sort(function (a, b) { return a.scanned_at < b.scanned_at ? 1 : -1; });
    var queued = all.filter(function (s) { return s.state === "queued"; }).length;
    $("queue-count").textContent = String(queued);
    var last = await state.db.get("meta", "last_sync");
    $("last-sync").textContent = last ? new Date(last).toLocaleString("zh-CN", TIME) : TEXT.never;
    var list = $("scans");
    list.textContent = "";
    all.slice(0, 200).forEach(function (s) {
      var li = document.createElement("li");
      li.dataset.status = s.state;
      li.dataset.nonce = s.nonce;
      var who = document.createElement("b"); who.textContent = s.name || "?";
      var when = document.createElement("span"); when.className = "muted";
      when.textContent = " " + new Date(s.scanned_at).toLocaleTimeString("zh-CN", TIME) + " ";
      var what = document.createElement("span"); what.className = "tag " + s.state;
      var shown = s.state === "refused" && s.result_code === "scan_conflict" ? "conflict" : s.state;
      what.textContent = TEXT["state_" + shown] || s.state;
      li.append(who, when, what);
      if (s.state === "refused") {
        var why = document.createElement("span"); why.className = "why";
        why.textContent = " " + (TEXT.refusals[s.result_code] || TEXT.refused_other) ;
        li.append(why);
      }
      list.append(li);
    });
    $("sync").disabled = queued === 0;
  }

  // ------------------------------------------------------------ start
  async function start() {
    state.db = await openStore();
    state.device = await deviceId();
    await forgetOldKits();
    $("device").textContent = state.device.slice(-8);
    setOnline(navigator.onLine);
    var select = $("activity");
    var remembered = await state.db.get("meta", "activity");
    if (remembered && select.querySelector('option[value="' + remembered + '"]')) select.value = remembered;
    select.addEventListener("change", function () { state.db.put("meta", select.value, "activity"); loadKit(select.value); });
    $("kit-download").addEventListener("click", function () { if (state.aid) downloadKit(state.aid).catch(function () {}); });
    $("photo").addEventListener("change", onFiles);
    $("camera-start").addEventListener("click", startCamera);
    $("camera-stop").addEventListener("click", stopCamera);
    $("sync").addEventListener("click", function () { probe().then(function () { return sync(false); }); });
    $("resync").addEventListener("click", function () { probe().then(function () { return sync(true); }); });
    window.addEventListener("online", probe);
    window.addEventListener("offline", function () { setOnline(false); });
    setInterval(probe, PROBE_MS);
    await render();
    await loadKit(select.value || null);
    if (state.online) await sync(false);
    root.dataset.ready = "1";
  }
  // For tests and for a clerk's "read a photo" path alike: decode an image, then scan its text.
  window.jifenScanner = { decode: decode, onText: onText, sync: sync, state: state };
  var codes = window.jifenScannerCodes;
  start().catch(function (e) { show("refused", String(e && e.message || e)); });
})();
