"""Issue 28, F12: every label the kandas map puts into HTML is escaped. The map's own
script runs in Node with a stand-in for Leaflet; a settlement named like an HTML payload
comes out of the marker tooltip, the popup and the ranked table as text."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from maps.i18n import TEXTS
from maps.kandas import MARKER_CALLBACK, ZONE_COLORS, QonysPanel

PAYLOAD = "<img src=x onerror=alert(1)>"

HARNESS = """
// A stand-in for the DOM and Leaflet: anything the panel touches answers, settable
// properties are kept (innerHTML of the ranked table), and the marker's popup and
// tooltip are recorded as the browser would show them.
function thing() {
  var kept = {};
  var p = new Proxy(function () { return p; }, {
    get: function (t, k) {
      if (k in kept) { return kept[k]; }
      if (k === Symbol.toPrimitive) { return function () { return 0; }; }
      if (k === "forEach") { return function () {}; }
      if (k === "length") { return 0; }
      return p;
    },
    set: function (t, k, v) { kept[k] = v; return true; },
    apply: function () { return p; }
  });
  return p;
}
var recorded = {};
var document = {
  documentElement: thing(),
  querySelectorAll: function () { return {forEach: function () {}}; },
  querySelector: function () { return thing(); },
  getElementById: function (id) { recorded[id] = recorded[id] || thing(); return recorded[id]; }
};
var window = {location: {search: ""}, innerWidth: 1920, addEventListener: function () {}};
var qMapStub = thing();
var L = new Proxy({
  LatLng: function (a, b) { this.a = a; this.b = b; },
  circleMarker: function () {
    return {
      bindPopup: function (f) { recorded.popup = typeof f === "function" ? f() : f; },
      bindTooltip: function (f) { recorded.tooltip = typeof f === "function" ? f() : f; },
      // The language switch rewrites each settlement's label (qonysRender).
      setTooltipContent: function (f) { recorded.tooltip = typeof f === "function" ? f() : f; }
    };
  }
}, {get: function (t, k) { return k in t ? t[k] : thing(); }});
%(panel)s
var callback = %(callback)s;
callback([43.2, 76.9, 0]);
recorded.unit = qonysUnitTooltip({names: {ru: QONYS.settlements[0].n}, z: "A", s: 1});
qonysRender();
console.log(JSON.stringify({
  tooltip: recorded.tooltip, popup: recorded.popup, unit: recorded.unit,
  table: recorded["qonys-top-table"].innerHTML
}));
"""


def _settlement(name: str) -> dict[str, Any]:
    return {
        "k": "751110000",
        "n": name,
        "nm": {"ru": name},  # the Russian name, shown on this (Russian) page
        "r": "750000000",
        "z": "A",
        "s": 87.5,
        "c": [],
        "caps": [],
        "l": True,
    }


class _MapStub:
    """The map the panel is added to, named as the harness defines it."""

    def get_name(self) -> str:
        return "qMapStub"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_settlement_name_is_text_in_every_label() -> None:
    payload = {
        "year": 2026,
        "date": "2026-12-04",
        "sources": [],
        "demo": False,
        "texts": TEXTS,
        "colors": ZONE_COLORS,
        "components": [],
        "regionNames": {"750000000": {"ru": PAYLOAD}},
        "quotas": {},
        "settlements": [_settlement(PAYLOAD)],
        "top": [0],
        "regionAt": {"750000000": [43.2, 76.9]},
        "topAt": [[43.2, 76.9]],
    }
    panel = QonysPanel(payload, demo=False)
    panel._parent = _MapStub()
    script = panel._template.module.script(panel, {})
    out = subprocess.run(
        ["node", "-e", HARNESS % {"panel": script, "callback": MARKER_CALLBACK}],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    shown = json.loads(out.stdout)
    for label in ("tooltip", "popup", "unit", "table"):
        assert "<img" not in shown[label], label
        assert "&lt;img src=x onerror=alert(1)&gt;" in shown[label], label
