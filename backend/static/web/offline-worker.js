// The service worker of one page (/verify or /officer): CACHED and SCOPE are set above by
// the server. Pages are fetched from the network first and kept for offline use (only
// GET answers: a check's result page is never kept); assets come from the cache; the
// keys and the status lists from the network when it answers, else from the cache.
// An officer's check form sent without a connection goes to the outbox (IndexedDB),
// and the page opens again with the typed number kept. On /officer it also shows the
// server's Web Push alerts (kind, region name, link: never a person or a place).
/* global CACHED, SCOPE, QonysOutbox */
importScripts("/static/web/outbox.js");
var CACHE = "qonys" + SCOPE.replace(/\//g, "-") + "-v1";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(CACHED);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function networkFirst(request) {
  return fetch(request).then(function (resp) {
    if (resp.ok && !resp.redirected) {  // never keep the sign-in page as the page
      var copy = resp.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return resp;
  }, function () {
    return caches.match(request, { ignoreSearch: request.mode === "navigate" }).then(function (hit) {
      return hit || Response.error();
    });
  });
}

function queueForm(request) {
  // The form as sent: kept in the outbox when the server cannot be reached.
  var copy = request.clone();
  return fetch(request).catch(function () {
    return copy.formData().then(function (form) {
      if (form.get("form") !== "check" || !form.get("who")) { return Response.error(); }
      return QonysOutbox.add({
        kind: "typed",
        who: String(form.get("who")),
        lat: parseFloat(form.get("lat")) || null,
        lon: parseFloat(form.get("lon")) || null
      }).then(function () { return Response.redirect(SCOPE + "?queued=1", 303); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && request.mode === "navigate" && url.pathname === "/officer") {
    event.respondWith(queueForm(request));
    return;
  }
  if (request.method !== "GET") { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
  } else if (url.pathname === SCOPE || url.pathname === "/.well-known/jwks.json" ||
             url.pathname.indexOf("/api/v1/status-lists/") === 0) {
    event.respondWith(networkFirst(request));
  }
});

// Web Push (the officer's page): the payload is {kind, region, title, body, url, tag}.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  var title = data.title || "Qonys";
  event.waitUntil(self.registration.showNotification(title, {
    body: [data.region, data.body].filter(Boolean).join(" \u2014 "),
    icon: "/static/web/qonys-icon.svg",
    tag: data.tag || data.kind || "qonys",
    renotify: data.kind === "sos",
    requireInteraction: data.kind === "sos",
    data: { url: data.url || SCOPE }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || SCOPE;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === url && "focus" in list[i]) { return list[i].focus(); }
    }
    return self.clients.openWindow(url);
  }));
});
