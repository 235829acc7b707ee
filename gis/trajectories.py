"""Stays and trips from a time-ordered trace (pure Python, no database).

A *stay* is where a person remained at least ``min_duration`` within ``radius_m`` of the
stay's running centre; a *trip* is the movement between two consecutive stays. This is
the classic stay-point detection, made incremental so it runs in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Fix:
    t: datetime
    lat: float
    lon: float


@dataclass
class Stay:
    arrived: datetime
    left: datetime
    lat: float
    lon: float
    points: int

    @property
    def duration(self) -> timedelta:
        return self.left - self.arrived


@dataclass
class Trip:
    started: datetime
    ended: datetime
    path: list[tuple[float, float]] = field(default_factory=list)  # (lon, lat)

    @property
    def length_m(self) -> float:
        return sum(haversine_m(a[1], a[0], b[1], b[0]) for a, b in pairwise(self.path))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def detect_stays(fixes: Sequence[Fix], radius_m: float, min_duration: timedelta) -> list[Stay]:
    """Stays in a time-ordered sequence of fixes."""
    stays: list[Stay] = []
    i, n = 0, len(fixes)
    while i < n:
        lat_sum, lon_sum, count = fixes[i].lat, fixes[i].lon, 1
        j = i + 1
        while j < n:
            c_lat, c_lon = lat_sum / count, lon_sum / count
            if haversine_m(c_lat, c_lon, fixes[j].lat, fixes[j].lon) > radius_m:
                break
            lat_sum += fixes[j].lat
            lon_sum += fixes[j].lon
            count += 1
            j += 1
        if fixes[j - 1].t - fixes[i].t >= min_duration:
            stays.append(Stay(fixes[i].t, fixes[j - 1].t, lat_sum / count, lon_sum / count, count))
            i = j
        else:
            i += 1
    return stays


def trips_between(fixes: Sequence[Fix], stays: Sequence[Stay]) -> list[Trip]:
    """The movement from each stay to the next, as the fixes recorded on the way."""
    trips = []
    for before, after in pairwise(stays):
        path = [(before.lon, before.lat)]
        path += [(f.lon, f.lat) for f in fixes if before.left < f.t < after.arrived]
        path.append((after.lon, after.lat))
        trips.append(Trip(before.left, after.arrived, path))
    return trips
