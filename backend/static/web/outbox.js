// The officer's outbox: checks made without a connection, kept on the phone (IndexedDB)
// with the device's time and position, each with its own key so that a retried sync is
// recognised by the server. Used by the page and by its service worker.
(function (global) {
  "use strict";
  var DB = "qonys-officer", STORE = "outbox", DONE = "synced";

  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(STORE, { keyPath: "key" });
        req.result.createObjectStore(DONE, { keyPath: "key" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function run(store, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode), out = work(tx.objectStore(store));
        tx.oncomplete = function () { resolve(out && "result" in out ? out.result : out); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function uuid() {
    if (global.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function add(item) {
    item.key = item.key || uuid();
    item.device_time = item.device_time || new Date().toISOString();
    return run(STORE, "readwrite", function (s) { s.put(item); }).then(function () { return item; });
  }
  function all(store) { return run(store || STORE, "readonly", function (s) { return s.getAll(); }); }
  function done(item) {
    return run(STORE, "readwrite", function (s) { s.delete(item.key); }).then(function () {
      return run(DONE, "readwrite", function (s) { s.put(item); });
    });
  }
  global.QonysOutbox = { add: add, waiting: function () { return all(STORE); },
                         synced: function () { return all(DONE); }, done: done };
})(self);
