// The home page's open alerts, refreshed without a reload: every POLL_MS the server
// draws the rows again (same escaping as the page) and they replace the table's body.
(function () {
  var POLL_MS = 10000;
  var table = document.getElementById("alerts");
  if (!table || !window.fetch) { return; }
  var body = table.querySelector("tbody");
  function refresh() {
    fetch(table.getAttribute("data-rows"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) { body.innerHTML = html; table.setAttribute("data-refreshed", String(Date.now())); }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  setInterval(refresh, POLL_MS);
  table.addEventListener("qonys:refresh", refresh);
})();
