// The officer's page on a phone: the GPS position, an installable offline page (service
// worker), QR verdicts made on the phone, and typed checks kept in the outbox while the
// connection is gone, then synced (each with its own key) with the server's verdict
// shown beside the offline one.
(function () {
  "use strict";
  var status = document.querySelector(".geo-status");
  var position = { lat: null, lon: null };
  function say(key) { if (status) { status.textContent = status.dataset[key] || ""; } }
  function fill(lat, lon) {
    position = { lat: lat, lon: lon };
    document.querySelectorAll("input.lat").forEach(function (el) { if (!el.value) { el.value = lat.toFixed(6); } });
    document.querySelectorAll("input.lon").forEach(function (el) { if (!el.value) { el.value = lon.toFixed(6); } });
  }
  if (!navigator.geolocation) { say("failed"); } else {
    say("waiting");
    navigator.geolocation.getCurrentPosition(
      function (pos) { fill(pos.coords.latitude, pos.coords.longitude); say("found"); },
      function () { say("failed"); },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
    );
  }

  var C = window.QonysCredentials, O = window.QonysOutbox;
  var W = document.getElementById("words").dataset, B = document.getElementById("outbox-words").dataset;
  var form = document.getElementById("check"), who = form.querySelector("input[name=who]");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var region = document.getElementById("reader").dataset.region || null;
  var queued = document.getElementById("queued"), material = null, syncing = false;
  var REASONS = JSON.parse(B.reasons || "{}");
  var LOCALES = { ru: "ru-RU", kk: "kk-KZ", en: "en-GB" };

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/officer/sw.js", { scope: "/officer" }).catch(function () {});
  }

  function here() {
    var lat = parseFloat(form.querySelector("input.lat").value), lon = parseFloat(form.querySelector("input.lon").value);
    return { lat: isNaN(lat) ? position.lat : lat, lon: isNaN(lon) ? position.lon : lon };
  }

  function bar() {
    var online = navigator.onLine;
    document.getElementById("netbar").className = "netbar " + (online ? "online" : "offline");
    document.getElementById("net-state").textContent = online ? W.online : W.offline;
    document.getElementById("net-age").textContent = material ? "· " + W.listAge + " " + C.age(material.listsFetched, W) : "";
    return O.waiting().then(function (items) {
      document.getElementById("net-outbox").textContent = items.length ? "· " + B.waiting.replace("%(n)s", items.length) : "";
      return items;
    });
  }

  function verdictWord(v) { return B[v] || W[v] || v; }
  function render() {
    return Promise.all([O.waiting(), O.synced()]).then(function (lists) {
      var list = document.getElementById("outbox-list"), box = document.getElementById("outbox");
      list.textContent = "";
      lists[0].concat(lists[1]).sort(function (a, b) { return a.device_time < b.device_time ? 1 : -1; }).forEach(function (item) {
        var li = document.createElement("li");
        li.dataset.key = item.key;
        var when = new Date(item.device_time).toLocaleString(LOCALES[W.lang] || "ru-RU");
        var text = item.who + " · " + when + " · " + B.offlineVerdict + ": " +
          (item.offline_verdict ? verdictWord(item.offline_verdict) : B.unknown);
        if (item.server) {
          li.className = "synced";
          text += " · " + B.serverVerdict + ": " + verdictWord(item.server.verdict);
          if (item.server.reasons.length) {
            text += " (" + item.server.reasons.map(function (r) { return REASONS[r] || r; }).join("; ") + ")";
          }
        } else {
          li.className = "waiting";
          text += " · " + B.pending;
        }
        li.textContent = text;
        if (item.server && item.offline_verdict && differs(item)) {
          var mark = document.createElement("span");
          mark.className = "differs"; mark.textContent = " — " + B.differs;
          li.appendChild(mark);
        }
        list.appendChild(li);
      });
      box.hidden = !list.children.length;
    }).then(bar);
  }
  // The offline QR verdict said the same as the server when both see no problem, or
  // when the server's reasons include the offline one.
  var SERVER_REASON = { revoked: "permit_revoked", terminated: "permit_terminated", expired: "permit_expired",
                        not_yet_valid: "permit_not_yet_valid", outside_region: "outside_permit_region" };
  function differs(item) {
    if (item.offline_verdict === "valid") { return item.server.verdict !== "ok"; }
    return item.server.reasons.indexOf(SERVER_REASON[item.offline_verdict]) < 0;
  }

  function sync() {
    if (syncing || !navigator.onLine) { return Promise.resolve(); }
    syncing = true;
    return O.waiting().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          var body = { key: item.key, kind: item.kind, who: item.who, device_time: item.device_time,
                       lat: item.lat, lon: item.lon };
          if (item.doc_kind) { body.doc_kind = item.doc_kind; }
          if (item.offline_verdict) { body.offline_verdict = item.offline_verdict; }
          if (body.lat === null || body.lon === null) { var p = here(); body.lat = p.lat; body.lon = p.lon; }
          return fetch("/api/v1/checks/outbox", {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
            body: JSON.stringify(body)
          }).then(function (r) {
            if (r.status === 401) { queued.hidden = false; queued.firstChild.textContent = B.signIn + " "; throw new Error("signed out"); }
            return r.ok ? r.json() : null;
          }).then(function (answer) {
            if (answer) { item.server = answer; return O.done(item); }
          });
        });
      }, Promise.resolve());
    }).then(function () {
      return O.waiting().then(function (left) { if (!left.length) { queued.hidden = true; } });
    }).catch(function () { /* still offline: the items wait */ })
      .then(function () { syncing = false; return render(); });
  }

  // A typed check while offline goes to the outbox; the number stays in the field.
  form.addEventListener("submit", function (e) {
    if (navigator.onLine) { return; }
    e.preventDefault();
    var p = here();
    O.add({ kind: "typed", who: who.value.trim(), lat: p.lat, lon: p.lon }).then(function () {
      queued.hidden = false;
      return render();
    });
  });
  document.getElementById("retry").addEventListener("click", function () { sync(); });
  document.getElementById("new-check").addEventListener("click", function () {
    who.value = "";
    ["last-result", "result"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.hidden = true; }
    });
    document.querySelectorAll("p.error").forEach(function (el) { el.remove(); });
    queued.hidden = true;
    who.focus();
  });

  // The page opened again after a form sent without a connection: say so, keep the number.
  if (/[?&]queued=1/.test(location.search)) {
    queued.hidden = false;
    O.waiting().then(function (items) {
      var last = items.sort(function (a, b) { return a.device_time < b.device_time ? 1 : -1; })[0];
      if (last && !who.value) { who.value = last.who; }
    });
  }

  // QR codes: verdict on the phone, kept in the outbox with time and place.
  var result = document.getElementById("result");
  function showQr(text) {
    if (!text) { result.hidden = false; result.className = "result refused"; result.textContent = W.noCode; return Promise.resolve(); }
    return (material ? Promise.resolve(material) : load()).then(function (m) {
      return C.verdict(text, { jwks: m.jwks, lists: m.lists, region: region });
    }).then(function (out) {
      window.QonysShowVerdict(result, out);
      if (!out.claims) { return null; }
      var p = here();
      return O.add({ kind: "qr", who: out.claims.no, doc_kind: out.claims.kind, offline_verdict: out.verdict,
                     lat: p.lat, lon: p.lon }).then(function () { return navigator.onLine ? sync() : render(); });
    });
  }
  window.QonysShowVerdict = function (into, out) {
    into.hidden = false; into.textContent = "";
    into.className = "result " + (out.verdict === "valid" ? "valid" : "refused");
    into.dataset.verdict = out.verdict;
    var head = document.createElement("strong");
    head.textContent = W[out.verdict] || out.verdict;
    into.appendChild(head);
    if (!out.claims) { return; }
    var c = out.claims, line = document.createElement("p");
    var regions = JSON.parse(document.getElementById("regions").textContent || "{}");
    var r = regions[c.region];
    line.textContent = (W[c.kind] || c.kind) + " " + c.no + " · " + c.name + " · " + c.by + " · " +
      (r ? (r[W.lang] || r.ru) : c.region) + " · " + c.from.split("-").reverse().join(".") + " – " +
      (c.until ? c.until.split("-").reverse().join(".") : "—");
    into.appendChild(line);
    if (!out.status_known) { var s = document.createElement("p"); s.textContent = W.statusUnknown; into.appendChild(s); }
  };
  C.wireScanner(showQr);

  function load() {
    return C.material().then(function (m) { material = m; bar(); return m; });
  }
  window.addEventListener("online", function () { load().then(sync); });
  window.addEventListener("offline", bar);
  load().then(render).then(sync);

  // Web Push: when the officer allows alerts, the service worker subscribes with the
  // server's VAPID key and the subscription is kept by the server (one per browser).
  var pushBox = document.getElementById("push");
  function pushState(key, on) {
    document.getElementById("push-state").textContent = pushBox.dataset[key] || "";
    document.getElementById("push-on").hidden = !!on;
    document.getElementById("push-off").hidden = !on;
  }
  function keyBytes(b64) {
    var raw = atob((b64 + "===".slice((b64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }
  function pushCall(method, body) {
    return fetch("/api/v1/push-subscriptions", {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { if (!r.ok && r.status !== 404) { throw new Error(String(r.status)); } });
  }
  if (pushBox && "serviceWorker" in navigator && "PushManager" in window && window.Notification) {
    pushBox.hidden = false;
    navigator.serviceWorker.ready.then(function (reg) {
      return reg.pushManager.getSubscription().then(function (sub) {
        if (sub && Notification.permission === "granted") {
          pushState("on", true);
          // Once a day the page tells the server again (it forgets a subscription the
          // push service reported gone), not on every visit: each POST is audited.
          var last = Number(localStorage.getItem("qonys-push-sent") || 0);
          if (Date.now() - last < 86400000) { return null; }
          return pushCall("POST", sub.toJSON()).then(function () {
            localStorage.setItem("qonys-push-sent", String(Date.now()));
          });
        }
        pushState(Notification.permission === "denied" ? "blocked" : "off", false);
      });
    }).catch(function () {});
    document.getElementById("push-on").addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) {
        if (answer !== "granted") { throw new Error(answer); }
        return navigator.serviceWorker.ready;
      }).then(function (reg) {
        return fetch("/api/v1/push-subscriptions/key", { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) { throw new Error(String(r.status)); }
          return r.json();
        }).then(function (answer) {
          return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(answer.public_key) });
        });
      }).then(function (sub) {
        return pushCall("POST", sub.toJSON());
      }).then(function () {
        localStorage.setItem("qonys-push-sent", String(Date.now()));
        pushState("on", true);
      }, function () { pushState("blocked", false); });
    });
    document.getElementById("push-off").addEventListener("click", function () {
      navigator.serviceWorker.ready.then(function (reg) {
        return reg.pushManager.getSubscription();
      }).then(function (sub) {
        if (!sub) { return null; }
        localStorage.removeItem("qonys-push-sent");
        return pushCall("DELETE", { endpoint: sub.endpoint }).then(function () { return sub.unsubscribe(); });
      }).then(function () { pushState("off", false); }, function () {});
    });
  }
  window.QonysOfficer = { sync: sync, render: render };
})();
