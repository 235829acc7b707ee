"""The ministries' monitoring map, built with Folium from aggregates only.

Data in (a plain, JSON-ready payload: see :func:`build_monitoring_map`), HTML out:
regions as a choropleth of persons registered or permits in force (switchable), a
density grid of hexagons (cells under k persons already removed by the database), the
officers' checks per cell with their verdicts, open alerts per region (``sos`` first), a
legend, a layer switch, the filters the map was built with (period, category, region)
and a form to build another, a person's track on request with a purpose (read through
the API, which audits it), the data date and sources, and Russian / Kazakh / English.
Nothing is loaded from the internet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import folium
from branca.element import MacroElement
from folium.utilities import JsCode
from jinja2 import Template

from maps.i18n import DENSITY_COLORS, HELPERS_JS, MONITORING_TEXTS
from maps.offline import localize_map

CHECK_COLORS = ("#1a9850", "#fee08b", "#d73027")  # few, some, many violations


def breaks(values: list[int], classes: int = len(DENSITY_COLORS)) -> list[int]:
    """Upper bounds of ``classes`` colour classes by quantiles of the non-zero values."""
    positive = sorted(v for v in values if v > 0)
    if not positive:
        return [0] * (classes - 1)
    return [
        positive[min(len(positive) - 1, len(positive) * n // classes)] for n in range(1, classes)
    ]


def color_of(value: int, bounds: list[int]) -> str:
    if value <= 0:
        return "#ffffff"
    for n, bound in enumerate(bounds):
        if value <= bound:
            return DENSITY_COLORS[n]
    return DENSITY_COLORS[-1]


def _check_color(props: dict[str, Any]) -> str:
    share = props["violation"] / props["n"] if props["n"] else 0
    return CHECK_COLORS[0 if share < 0.1 else 1 if share < 0.3 else 2]


class MonitoringPanel(MacroElement):
    """Title, language switch, filters, legend, alerts by kind, track form, note."""

    _template = Template(
        (Path(__file__).parent / "templates" / "monitoring.html").read_text("utf-8")
    )

    def __init__(self, payload: dict[str, Any]) -> None:
        MacroElement.__init__(self)  # explicit: mypy exempts untyped branca calls by name
        self._name = "MonitoringPanel"
        self.helpers = HELPERS_JS
        self.payload = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace(
            "</", "<\\/"
        )
        self.colors = DENSITY_COLORS
        self.check_colors = CHECK_COLORS


BIND_REGION = JsCode(
    "function (feature, layer) {"
    " layer.bindPopup(function () { return qonysRegionPopup(feature.properties); });"
    " layer.bindTooltip(function () { return qonysRegionTooltip(feature.properties); },"
    " {sticky: true}); }"
)
BIND_CELL = JsCode(
    "function (feature, layer) {"
    " layer.bindTooltip(function () { return qEsc(qT('cell', {n: feature.properties.n})); }); }"
)
BIND_CHECK = JsCode(
    "function (feature, layer) {"
    " layer.bindTooltip(function () { return qEsc(qT('check_cell', feature.properties)); }); }"
)
BIND_ALERTS = JsCode(
    "function (feature, layer) {"
    " layer.bindPopup(function () { return qonysAlertPopup(feature.properties); });"
    " layer.bindTooltip(function () { return qonysAlertTooltip(feature.properties); }); }"
)


KAZAKHSTAN = [[40.5, 46.5], [55.5, 87.4]]


def _coordinates(geometry: Any) -> Iterator[list[float]]:
    """Every [lon, lat] of a GeoJSON geometry, at any nesting depth."""
    if isinstance(geometry, dict):
        yield from _coordinates(geometry.get("coordinates", []))
    elif geometry and isinstance(geometry[0], int | float):
        yield geometry
    else:
        for part in geometry:
            yield from _coordinates(part)


def _view(regions: list[dict[str, Any]], region_kato: str | None) -> list[list[float]]:
    """The bounds to open on: the filtered region's, else the whole country."""
    chosen = next((r for r in regions if region_kato and r["kato"] == region_kato), None)
    points = list(_coordinates(chosen["geometry"])) if chosen else []
    if not points:
        return KAZAKHSTAN
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def build_monitoring_map(
    payload: dict[str, Any],
    asset_base: str = "/static/maps",
    tiles_url: str | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> str:
    """Render the monitoring map as one self-contained page (assets served by us).

    ``payload``: ``filters`` (date_from, date_to, category, region_kato), ``k``,
    ``cell_m``, ``date``, ``sources``, ``regions`` (kato, names, geometry, registered,
    permits, alerts by kind, centre), ``density`` and ``checks`` (GeoJSON geometry and
    counts per cell), ``suppressed`` and ``checks_suppressed`` (cells, count),
    ``alerts_by_kind``, ``region_names`` (every region, for the filter), ``categories``,
    ``labels`` (language → ``kind_*``/``cat_*`` → words, from the catalogues).
    """
    texts = MONITORING_TEXTS["ru"]
    regions = payload["regions"]
    region_breaks = {
        "registered": breaks([r["registered"] for r in regions]),
        "permits": breaks([r["permits"] for r in regions]),
    }
    cell_breaks = breaks([c["count"] for c in payload["density"]])
    fmap = folium.Map(
        location=[48.0, 67.5], zoom_start=5, tiles=None, control_scale=True, maxZoom=18, minZoom=3
    )
    localize_map(fmap, asset_base)
    if tiles_url:
        folium.TileLayer(tiles_url, name="Base map", attr="Base map (QONYS_MAP_TILES_URL)").add_to(
            fmap
        )
    panel_data = {
        key: payload[key]
        for key in (
            "filters",
            "k",
            "cell_m",
            "date",
            "sources",
            "suppressed",
            "checks_suppressed",
            "alerts_by_kind",
            "region_names",
            "categories",
        )
    }
    panel_data |= {
        "texts": {
            lang: {**texts, **payload.get("labels", {}).get(lang, {})}
            for lang, texts in MONITORING_TEXTS.items()
        },
        "regionBreaks": region_breaks,
        "cellBreaks": cell_breaks,
        "colors": DENSITY_COLORS,
        "layerKeys": ["registered", "density", "checks", "alerts"],
    }
    MonitoringPanel(panel_data).add_to(fmap)
    progress(15)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": r["geometry"],
                    "properties": {
                        "k": r["kato"],
                        "names": r["names"],
                        "registered": r["registered"],
                        "permits": r["permits"],
                    },
                }
                for r in regions
            ],
        },
        name=texts["registered"],
        style_function=lambda f: {
            "fillColor": color_of(f["properties"]["registered"], region_breaks["registered"]),
            "color": "#444",
            "weight": 1,
            "fillOpacity": 0.6,
        },
        on_each_feature=BIND_REGION,
    ).add_to(fmap)
    progress(35)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": c["geometry"], "properties": {"n": c["count"]}}
                for c in payload["density"]
            ],
        },
        name=texts["density"],
        style_function=lambda f: {
            "fillColor": color_of(f["properties"]["n"], cell_breaks),
            "color": "#08306b",
            "weight": 0.3,
            "fillOpacity": 0.7,
        },
        on_each_feature=BIND_CELL,
    ).add_to(fmap)
    progress(55)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": c["geometry"],
                    "properties": {"n": c["count"], **c["verdicts"]},
                }
                for c in payload["checks"]
            ],
        },
        name=texts["checks"],
        style_function=lambda f: {
            "fillColor": _check_color(f["properties"]),
            "color": "#333",
            "weight": 0.4,
            "fillOpacity": 0.7,
        },
        on_each_feature=BIND_CHECK,
        show=False,
    ).add_to(fmap)
    progress(70)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [r["centre"][1], r["centre"][0]]},
                    "properties": {
                        "k": r["kato"],
                        "names": r["names"],
                        "alerts": r["alerts"],
                        "n": sum(r["alerts"].values()),
                    },
                }
                for r in regions
                if r["alerts"]
            ],
        },
        name=texts["alerts"],
        marker=folium.CircleMarker(fill=True),
        style_function=lambda f: {
            "radius": 6 + min(24, f["properties"]["n"] ** 0.5 * 2),
            "color": "#7f0000",
            "weight": 1,
            "fillColor": "#d7301f" if "sos" in f["properties"]["alerts"] else "#fc8d59",
            "fillOpacity": 0.85,
        },
        on_each_feature=BIND_ALERTS,
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds(_view(regions, payload["filters"].get("region_kato")))
    progress(85)
    html = fmap.get_root().render()
    progress(95)
    return html
