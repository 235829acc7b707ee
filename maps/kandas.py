"""The interactive kandas settlement map (concept action 24), built with Folium.

Data in — regions, districts and settlements with their zones, scores, components, quota
fill and list status — HTML out. Regions and districts are GeoJSON layers coloured by
zone; settlements are clustered circle markers created in the browser from one compact
array (so 7,000 settlements stay small and fast); a legend, a layer switcher, a ranked
table of the top settlements, a language switch (ru/kk/en) and a note of the data date
and sources complete the page. Nothing is loaded from the internet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import FastMarkerCluster
from folium.utilities import JsCode
from jinja2 import Template
from shapely.geometry import shape

from maps.i18n import HELPERS_JS, TEXTS, ZONE_COLORS
from maps.offline import localize_cluster, localize_map

COMPONENTS = ("labour_demand", "quota_headroom", "infrastructure", "population_trend")


@dataclass
class Unit:
    """A region or district: names per language, simplified geometry, its zone score."""

    kato: str
    names: dict[str, str]
    geometry: dict[str, Any]
    zone: str
    score: float
    components: dict[str, dict[str, Any]]
    caps: list[str]
    quota: dict[str, dict[str, int]] | None = None  # per category: limit and fill


@dataclass
class SettlementPoint:
    kato: str
    name: str
    region_kato: str
    lat: float
    lon: float
    zone: str
    score: float
    components: dict[str, dict[str, Any]]
    caps: list[str]
    listed: bool
    rank: int = 0
    # Names in Russian and Kazakh where known (``name`` is the GeoNames Latin fallback).
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class MapData:
    year: int
    data_date: date
    regions: list[Unit]
    settlements: list[SettlementPoint]
    districts: list[Unit] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    demo: bool = False
    tiles_url: str | None = None


def _compact(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _unit_feature(unit: Unit, level: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": unit.geometry,
        "properties": {
            "k": unit.kato,
            "lvl": level,
            "names": unit.names,
            "z": unit.zone,
            "s": unit.score,
            "c": _component_pairs(unit.components),
            "caps": unit.caps,
            "q": unit.quota,
        },
    }


def _component_pairs(components: dict[str, Any]) -> list[list[Any]]:
    """[value, points] per component, in COMPONENTS order: the map's compact form."""
    return [[_compact(components[c]["value"]), components[c]["points"]] for c in COMPONENTS]


def _payload(data: MapData, top_n: int) -> dict[str, Any]:
    region_names = {r.kato: r.names for r in data.regions}
    quotas = {r.kato: r.quota for r in data.regions}
    ranked = sorted(data.settlements, key=lambda s: (s.rank or 10**9, -s.score, s.kato))
    return {
        "year": data.year,
        "date": data.data_date.isoformat(),
        "sources": data.sources,
        "demo": data.demo,
        "texts": TEXTS,
        "colors": ZONE_COLORS,
        "components": COMPONENTS,
        "regionNames": region_names,
        "quotas": quotas,
        "settlements": [
            {
                "k": s.kato,
                "n": s.name,
                # Only the names that differ from the Latin one, to keep the page small.
                **({"nm": nm} if (nm := _other_names(s)) else {}),
                "r": s.region_kato,
                "z": s.zone,
                "s": s.score,
                "c": _component_pairs(s.components),
                "caps": s.caps,
                "l": s.listed,
            }
            for s in data.settlements
        ],
        "top": [data.settlements.index(s) for s in ranked[:top_n]],
        # Where the ranked rows fly to, and where each region's name is written.
        "topAt": [[round(s.lat, 5), round(s.lon, 5)] for s in ranked[:top_n]],
        "regionAt": {r.kato: _label_point(r.geometry) for r in data.regions},
    }


def _other_names(s: SettlementPoint) -> dict[str, str]:
    return {lang: name for lang, name in s.names.items() if name and name != s.name}


def _label_point(geometry: dict[str, Any]) -> list[float]:
    """A point inside the region (not its centroid, which may fall outside) for its name."""
    point = shape(geometry).representative_point()
    return [round(point.y, 4), round(point.x, 4)]


class QonysPanel(MacroElement):
    """Legend, ranked table, note, language switch and the shared data and helpers."""

    _template = Template((Path(__file__).parent / "templates" / "panel.html").read_text("utf-8"))

    def __init__(self, payload: dict[str, Any], demo: bool) -> None:
        MacroElement.__init__(self)  # explicit: mypy exempts untyped branca calls by name
        self._name = "QonysPanel"
        self.helpers = HELPERS_JS
        self.payload = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace(
            "</", "<\\/"
        )
        self.demo = demo
        self.colors = ZONE_COLORS


def _style(feature: dict[str, Any]) -> dict[str, Any]:
    zone = feature["properties"]["z"]
    return {"fillColor": ZONE_COLORS[zone], "color": "#444", "weight": 1, "fillOpacity": 0.45}


def _district_style(feature: dict[str, Any]) -> dict[str, Any]:
    zone = feature["properties"]["z"]
    return {
        "fillColor": ZONE_COLORS[zone],
        "color": "#666",
        "weight": 0.6,
        "dashArray": "3",
        "fillOpacity": 0.35,
    }


BIND_UNIT = JsCode(
    "function (feature, layer) {"
    " layer.bindPopup(function () { return qonysUnitPopup(feature.properties); });"
    " layer.bindTooltip(function () { return qonysUnitTooltip(feature.properties); },"
    " {sticky: true}); }"
)
MARKER_CALLBACK = """
function (row) {
  var s = QONYS.settlements[row[2]], color = QONYS.colors[s.z];
  var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
    {radius: 6, color: "#333", weight: 1, fillColor: color, fillOpacity: 0.9});
  marker.bindPopup(function () { return qonysSettlementPopup(s); });
  // The name is written beside the point once zoomed in (the map's qonys-near class).
  marker.bindTooltip(qEsc(qSName(s)),
    {permanent: true, direction: "right", className: "qonys-slabel"});
  marker.qonysS = s;  // its label follows the language switch (qonysRender)
  QONYS.markers.push(marker);
  return marker;
}
"""


def build_map(
    data: MapData,
    asset_base: str = "/static/maps",
    top_n: int = 20,
    progress: Callable[[int], None] = lambda _: None,
) -> str:
    """Render the settlement map as one self-contained HTML page (assets served by us)."""
    texts = TEXTS["ru"]
    # No base tiles by default (offline), so the zoom range is set on the map itself.
    fmap = folium.Map(
        location=[48.0, 67.5], zoom_start=5, tiles=None, control_scale=True, maxZoom=18, minZoom=3
    )
    localize_map(fmap, asset_base)
    if data.tiles_url:
        folium.TileLayer(
            data.tiles_url, name="Base map", attr="Base map (QONYS_MAP_TILES_URL)"
        ).add_to(fmap)
    QonysPanel(_payload(data, top_n), data.demo).add_to(fmap)
    progress(20)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [_unit_feature(r, "region") for r in data.regions],
        },
        name=texts["regions"],
        style_function=_style,
        on_each_feature=BIND_UNIT,
    ).add_to(fmap)
    progress(40)
    if data.districts:
        folium.GeoJson(
            {
                "type": "FeatureCollection",
                "features": [_unit_feature(d, "district") for d in data.districts],
            },
            name=texts["districts"],
            style_function=_district_style,
            on_each_feature=BIND_UNIT,
            show=False,
        ).add_to(fmap)
    progress(60)
    cluster = FastMarkerCluster(
        [[round(s.lat, 5), round(s.lon, 5), i] for i, s in enumerate(data.settlements)],
        callback=MARKER_CALLBACK,
        name=texts["settlements"],
        options={"disableClusteringAtZoom": 9, "chunkedLoading": True},
    )
    localize_cluster(cluster, asset_base)
    cluster.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[40.5, 46.5], [55.5, 87.4]])
    progress(80)
    html = fmap.get_root().render()
    progress(95)
    return html
