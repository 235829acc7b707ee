// Fill the officer's location from the phone's GPS; the fields stay editable by hand.
(function () {
  var status = document.querySelector(".geo-status");
  function say(key) { if (status) { status.textContent = status.dataset[key] || ""; } }
  function fill(lat, lon) {
    document.querySelectorAll("input.lat").forEach(function (el) { if (!el.value) { el.value = lat.toFixed(6); } });
    document.querySelectorAll("input.lon").forEach(function (el) { if (!el.value) { el.value = lon.toFixed(6); } });
  }
  if (!navigator.geolocation) { say("failed"); return; }
  say("waiting");
  navigator.geolocation.getCurrentPosition(
    function (pos) { fill(pos.coords.latitude, pos.coords.longitude); say("found"); },
    function () { say("failed"); },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
  );
})();
