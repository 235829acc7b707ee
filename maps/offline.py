"""Leaflet and its plugins from the XStatic packages on PyPI, served by the app itself.

Folium points at CDNs by default; a closed ministry network has none. Each map element
gets its ``default_js``/``default_css`` replaced with URLs under ``base_url`` that the app
serves from the packages' data folders (see :func:`asset_dirs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet as xleaflet
import xstatic.pkg.leaflet_markercluster as xcluster


def asset_dirs() -> dict[str, Path]:
    return {"leaflet": Path(xleaflet.BASE_DIR), "markercluster": Path(xcluster.BASE_DIR)}


def localize_map(fmap: Any, base_url: str) -> None:
    """Leaflet only: no jQuery, Bootstrap or icon fonts are needed by our maps."""
    fmap.default_js = [("leaflet", f"{base_url}/leaflet/leaflet.js")]
    fmap.default_css = [("leaflet_css", f"{base_url}/leaflet/leaflet.css")]


def localize_cluster(cluster: Any, base_url: str) -> None:
    cluster.default_js = [("markerclusterjs", f"{base_url}/markercluster/leaflet.markercluster.js")]
    cluster.default_css = [
        ("markerclustercss", f"{base_url}/markercluster/MarkerCluster.css"),
        ("markerclusterdefaultcss", f"{base_url}/markercluster/MarkerCluster.Default.css"),
    ]
