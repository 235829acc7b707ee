// Verifying a Qonys credential in the browser, with no server: WebCrypto checks the
// Ed25519 signature against the cached JWKS, the cached signed status list gives the
// revocation state, the signed dates give expiry. The same rules as the server's check.
(function (global) {
  "use strict";
  var STORE = "qonys.credentials.";
  var enc = new TextEncoder();

  function b64url(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function json(bytes) { return JSON.parse(new TextDecoder().decode(bytes)); }

  function remember(name, value) {
    var item = { value: value, fetched: Date.now() };
    try { localStorage.setItem(STORE + name, JSON.stringify(item)); } catch (e) { /* full */ }
    return item;
  }
  function recalled(name) {
    try { return JSON.parse(localStorage.getItem(STORE + name) || "null"); } catch (e) { return null; }
  }

  // A fresh copy when the network answers, else the one kept from last time (or null).
  function fetched(url, name, asText) {
    return fetch(url, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return asText ? r.text() : r.json();
    }).then(function (value) { return remember(name, value); },
      function () { return recalled(name); });
  }

  function splitJws(token) {
    var parts = String(token).trim().split(".");
    if (parts.length !== 3) { throw new Error("not a compact JWS"); }
    return { header: json(b64url(parts[0])), payload: b64url(parts[1]),
             signed: enc.encode(parts[0] + "." + parts[1]), signature: b64url(parts[2]) };
  }

  function verifyJws(token, jwks) {
    var jws;
    try { jws = splitJws(token); } catch (e) { return Promise.resolve(null); }
    var key = (jwks.keys || []).filter(function (k) { return k.kid === jws.header.kid; })[0];
    if (!key || jws.header.alg !== "Ed25519") { return Promise.resolve(null); }
    var jwk = { kty: key.kty, crv: key.crv, x: key.x };
    return crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["verify"])
      .then(function (k) { return crypto.subtle.verify({ name: "Ed25519" }, k, jws.signature, jws.signed); })
      .then(function (ok) { return ok ? json(jws.payload) : null; }, function () { return null; });
  }

  function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  // Status list entry ``idx`` (draft-ietf-oauth-status-list §4: LSB first, ZLIB).
  function statusAt(listToken, jwks, idx) {
    return verifyJws(listToken, jwks).then(function (claims) {
      if (!claims || !claims.status_list) { return null; }
      var bits = claims.status_list.bits, perByte = 8 / bits;
      return inflate(b64url(claims.status_list.lst)).then(function (raw) {
        var at = Math.floor(idx / perByte);
        if (at >= raw.length) { return null; }
        return (raw[at] >> ((idx % perByte) * bits)) & ((1 << bits) - 1);
      });
    });
  }

  function today() {
    // Kazakhstan's date, as the register's rules use it.
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Almaty" }).format(new Date());
  }

  function listName(claims) {
    var uri = ((claims.status || {}).status_list || {}).uri || "";
    return uri.split("/").pop();
  }

  // The verdict: "valid", or the first reason in the server check's order; "invalid"
  // when the signature does not hold. ``options``: jwks, lists {name: token}, today,
  // region (the officer's region: a permit elsewhere is "outside_region").
  function verdict(token, options) {
    return verifyJws(token, options.jwks).then(function (claims) {
      if (!claims) { return { verdict: "invalid", reasons: ["invalid"], claims: null }; }
      var name = listName(claims), list = (options.lists || {})[name];
      var lookup = list ? statusAt(list, options.jwks, claims.status.status_list.idx) : Promise.resolve(null);
      return lookup.then(function (status) {
        var reasons = [], day = options.today || today();
        if (status === 1) { reasons.push("revoked"); }
        else if (status === 3) { reasons.push(claims.kind === "permit" ? "terminated" : "ended"); }
        else if (claims.until && claims.until < day) { reasons.push("expired"); }
        else if (claims.from > day) { reasons.push("not_yet_valid"); }
        else if (claims.kind === "permit" && options.region && claims.region !== options.region) {
          reasons.push("outside_region");
        }
        return { verdict: reasons.length ? reasons[0] : "valid", reasons: reasons,
                 claims: claims, status_known: status !== null };
      });
    });
  }

  // The keys and both lists: fresh when online, else cached; with their ages.
  function material() {
    return fetched("/.well-known/jwks.json", "jwks", false).then(function (keys) {
      var names = ["permits", "registrations"];
      return Promise.all(names.map(function (n) {
        return fetched("/api/v1/status-lists/" + n, "list." + n, true);
      })).then(function (lists) {
        var out = { jwks: keys ? keys.value : { keys: [] }, keysFetched: keys && keys.fetched,
                    lists: {}, listsFetched: null };
        lists.forEach(function (item, i) {
          if (!item) { return; }
          out.lists[names[i]] = item.value;
          out.listsFetched = out.listsFetched ? Math.min(out.listsFetched, item.fetched) : item.fetched;
        });
        return out;
      });
    });
  }

  // A QR code from an image file or a video frame (jsQR, vendored).
  function decodeImage(source, width, height) {
    var canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, width, height);
    var found = global.jsQR(ctx.getImageData(0, 0, width, height).data, width, height);
    return found ? found.data : null;
  }
  function decodeFile(file) {
    return createImageBitmap(file).then(function (bmp) { return decodeImage(bmp, bmp.width, bmp.height); });
  }

  function age(ms, words) {
    if (!ms) { return words.never; }
    var minutes = Math.max(0, Math.round((Date.now() - ms) / 60000));
    return minutes < 1 ? words.now : words.minutes.replace("%(n)s", String(minutes));
  }

  // The page's QR inputs: an image file (#qr-file) and the camera (#camera into #video).
  // ``onText`` gets the decoded text, or null when nothing could be read.
  function wireScanner(onText) {
    document.getElementById("qr-file").addEventListener("change", function (e) {
      var file = e.target.files[0];
      if (file) { decodeFile(file).then(onText, function () { onText(null); }); }
    });
    document.getElementById("camera").addEventListener("click", function () {
      var video = document.getElementById("video");
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream; video.hidden = false; video.play();
        (function tick() {
          if (video.readyState >= 2) {
            var text = decodeImage(video, video.videoWidth, video.videoHeight);
            if (text) { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; onText(text); return; }
          }
          requestAnimationFrame(tick);
        })();
      }, function () { onText(null); });
    });
  }

  global.QonysCredentials = { verdict: verdict, material: material, decodeFile: decodeFile,
                              decodeImage: decodeImage, age: age, today: today,
                              wireScanner: wireScanner };
})(window);
