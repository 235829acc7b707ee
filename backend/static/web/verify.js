// The public /verify page: read a QR code (photo or camera), verify it on this device.
(function () {
  "use strict";
  var C = window.QonysCredentials, W = document.getElementById("words").dataset;
  var regions = JSON.parse(document.getElementById("regions").textContent || "{}");
  var result = document.getElementById("result"), fresh = document.getElementById("freshness");
  var material = null;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/verify/sw.js", { scope: "/verify" }).catch(function () {});
  }
  function load() {
    return C.material().then(function (m) {
      material = m;
      fresh.textContent = (navigator.onLine ? W.online : W.offline) + " · " + W.keysAge + " " +
        C.age(m.keysFetched, W) + " · " + W.listAge + " " + C.age(m.listsFetched, W);
      return m;
    });
  }
  function regionName(kato) {
    var r = regions[kato];
    return r ? (r[W.lang] || r.ru) : kato;
  }
  function dmy(iso) { return iso ? iso.split("-").reverse().join(".") : "—"; }
  function row(dl, label, value) {
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = label; dd.textContent = value; dl.appendChild(dt); dl.appendChild(dd);
  }
  window.QonysShowVerdict = function (into, out) {
    into.hidden = false;
    into.textContent = "";
    into.className = "result " + (out.verdict === "valid" ? "valid" : "refused");
    into.dataset.verdict = out.verdict;
    var head = document.createElement("strong");
    head.textContent = W[out.verdict] || out.verdict;
    into.appendChild(head);
    if (!out.claims) { return; }
    var c = out.claims, dl = document.createElement("dl");
    dl.className = "fields";
    row(dl, W[c.kind] || c.kind, c.no);
    row(dl, W.name, c.name);
    row(dl, W.born, String(c.by));
    row(dl, W.region, regionName(c.region));
    row(dl, W.validity, dmy(c.from) + " – " + dmy(c.until));
    into.appendChild(dl);
    if (!out.status_known) {
      var p = document.createElement("p"); p.textContent = W.statusUnknown; into.appendChild(p);
    }
  };
  function check(text) {
    if (!text) { result.hidden = false; result.className = "result refused"; result.textContent = W.noCode; return; }
    (material ? Promise.resolve(material) : load()).then(function (m) {
      return C.verdict(text, { jwks: m.jwks, lists: m.lists });
    }).then(function (out) { window.QonysShowVerdict(result, out); });
  }
  C.wireScanner(check);
  window.addEventListener("online", load);
  window.addEventListener("offline", load);
  load();
})();
