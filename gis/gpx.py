"""Read track points from a GPX file (tracks, routes or waypoints), namespace-agnostic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

POINT_TAGS = ("trkpt", "rtept", "wpt")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_gpx(path: Path) -> Iterator[dict[str, Any]]:
    """Each point as ``{"lat", "lon", "t", "altitude_m"}`` (``t`` as written in the file)."""
    root = ElementTree.parse(str(path)).getroot()
    for element in root.iter():
        if _local(element.tag) not in POINT_TAGS:
            continue
        children = {_local(c.tag): (c.text or "").strip() for c in element}
        yield {
            "lat": element.get("lat"),
            "lon": element.get("lon"),
            "t": children.get("time"),
            "altitude_m": children.get("ele") or None,
        }
