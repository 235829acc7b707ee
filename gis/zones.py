"""Zone ranking for kandas settlement (concept action 24): score 0-100 and zone A/B/C/D.

Pure and deterministic: the same inputs and weights always give the same scores and
order (ties broken by KATO). Each score keeps its components so an official can see why
a place ranks where it does, and which policy rule capped it:

- ``not_designated`` — the region is not designated for settlement → zone D (rule 1);
- ``not_listed`` — the settlement is not on this year's list → zone D (rule 3);
- ``quota_exhausted`` — no quota or no headroom left in the region → zone D (rule 3);
- ``infrastructure`` — a settlement known to lack school, kindergarten, clinic, housing,
  utilities or transport → zone D (rule 5, "infrastructure first", strict);
- ``infrastructure_missing`` — a region or district where part of the settlements lack
  it → at best zone B;
- ``no_data`` — nothing is known of the settlement's infrastructure: shown as no data,
  never as lacking (the infrastructure component then scores nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The score's components; the weights of a ZoneRules name exactly these.
COMPONENTS = ("labour_demand", "quota_headroom", "infrastructure", "population_trend")
INFRASTRUCTURE = ("school", "kindergarten", "clinic", "housing", "utilities", "transport")


@dataclass(frozen=True)
class ZoneRules:
    weights: tuple[tuple[str, float], ...]
    a_min: float = 70.0
    b_min: float = 50.0
    labour_demand_full: float = 2.0
    population_trend_span: float = 5.0


@dataclass(frozen=True)
class UnitInputs:
    """What one region, district or settlement is scored on."""

    kato: str
    name: str
    labour_demand: float | None  # vacancies per job seeker
    quota_headroom: float | None  # 0..1 of the region's quota still free
    # Each item: present (bool), a share of settlements (0..1), or None when unknown.
    infrastructure: dict[str, bool | float | None]
    population_trend: float | None  # % a year
    designated: bool
    listed: bool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ZoneScore:
    kato: str
    name: str
    score: float
    zone: str
    components: dict[str, dict[str, float | None]]
    caps: list[str]
    rank: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def _trend(unit: UnitInputs, rules: ZoneRules) -> float:
    span = rules.population_trend_span
    return _clip(((unit.population_trend or 0.0) + span) / (2 * span))


def _known_infrastructure(unit: UnitInputs) -> list[float]:
    return [float(v) for k in INFRASTRUCTURE if (v := unit.infrastructure.get(k)) is not None]


def _normalized(unit: UnitInputs, rules: ZoneRules) -> dict[str, tuple[float | None, float]]:
    known = _known_infrastructure(unit)
    share = sum(known) / len(known) if known else None
    return {
        "labour_demand": (
            unit.labour_demand,
            _clip((unit.labour_demand or 0.0) / rules.labour_demand_full),
        ),
        "quota_headroom": (unit.quota_headroom, _clip(unit.quota_headroom or 0.0)),
        "infrastructure": (share, share or 0.0),
        "population_trend": (unit.population_trend, _trend(unit, rules)),
    }


def score_unit(unit: UnitInputs, rules: ZoneRules) -> ZoneScore:
    normalized = _normalized(unit, rules)
    components: dict[str, dict[str, float | None]] = {}
    total = 0.0
    for name, weight in rules.weights:
        value, norm = normalized[name]
        points = 100.0 * weight * norm
        total += points
        components[name] = {
            "value": None if value is None else round(float(value), 4),
            "normalized": round(norm, 4),
            "weight": weight,
            "points": round(points, 2),
        }
    score = round(total, 2)
    caps = []
    if not unit.designated:
        caps.append("not_designated")
    if not unit.listed:
        caps.append("not_listed")
    if unit.quota_headroom is None or unit.quota_headroom <= 0:
        caps.append("quota_exhausted")
    values = [unit.infrastructure.get(k) for k in INFRASTRUCTURE]
    if all(v is None for v in values):
        caps.append("no_data")
    elif any(v is False for v in values):
        caps.append("infrastructure")  # a settlement known to lack it: no admissions
    elif any(v is not None and float(v) < 1.0 for v in values):
        caps.append("infrastructure_missing")  # part of a region or district lacks it
    if {"not_designated", "not_listed", "quota_exhausted", "infrastructure"} & set(caps):
        zone = "D"
    elif score >= rules.a_min and "infrastructure_missing" not in caps:
        zone = "A"
    elif score >= rules.b_min:
        zone = "B"
    else:
        zone = "C"
    return ZoneScore(unit.kato, unit.name, score, zone, components, caps, extra=unit.extra)


ZONE_ORDER = {"A": 0, "B": 1, "C": 2, "D": 3}


def rank(units: Iterable[UnitInputs], rules: ZoneRules) -> list[ZoneScore]:
    """Score every unit and order them: zone first, then score, then KATO."""
    scored = [score_unit(u, rules) for u in units]
    scored.sort(key=lambda z: (ZONE_ORDER[z.zone], -z.score, z.kato))
    for position, item in enumerate(scored, start=1):
        item.rank = position
    return scored


def aggregate(
    kato: str,
    name: str,
    members: Sequence[UnitInputs],
    designated: bool,
    quota_headroom: float | None,
    extra: dict[str, Any] | None = None,
) -> UnitInputs:
    """Inputs of a region or district from its settlements (means; listed if any is)."""

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    with_data = [m for m in members if m.labour_demand is not None]
    return UnitInputs(
        kato=kato,
        name=name,
        labour_demand=mean([m.labour_demand for m in with_data if m.labour_demand is not None]),
        quota_headroom=quota_headroom,
        infrastructure={
            k: mean([float(v) for m in with_data if (v := m.infrastructure.get(k)) is not None])
            for k in INFRASTRUCTURE
        },
        population_trend=mean(
            [m.population_trend for m in with_data if m.population_trend is not None]
        ),
        designated=designated,
        listed=any(m.listed for m in members),
        extra=extra or {},
    )
