"""Import settlement reference indicators from CSV keyed by KATO.

Columns: ``kato, labour_demand, school, clinic, housing, transport, population_trend``
and optionally ``kindergarten``, ``utilities``, ``urban`` (a town rather than a village)
and ``low_potential`` (a village of low economic potential: seed 004 p. 2(7), where an
intra-regional move may start) — empty or absent = not known — ``as_of`` (ISO date) and
``source``. Booleans accept 1/0, true/false,
yes/no, да/нет, иә/жоқ. Every row is checked before anything is written.
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

REQUIRED = ("kato", "labour_demand", "school", "clinic", "housing", "transport", "population_trend")
TRUE = {"1", "true", "yes", "y", "да", "иә"}
FALSE = {"0", "false", "no", "n", "нет", "жоқ"}


class IndicatorFileError(ValueError):
    """The file cannot be imported; the message names the row and column."""


def _maybe_bool(value: str | None, row: int, column: str) -> bool | None:
    """An optional yes/no column: empty or absent means not known."""
    if value is None or not value.strip():
        return None
    return _bool(value, row, column)


def _bool(value: str, row: int, column: str) -> bool:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise IndicatorFileError(f"row {row}: {column} must be yes/no, got {value!r}")


def _float(value: str, row: int, column: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise IndicatorFileError(f"row {row}: {column} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise IndicatorFileError(f"row {row}: {column} must be finite")
    return number


def read_indicators(path: Path, default_source: str, today: date) -> list[dict[str, Any]]:
    """Rows of an indicators CSV; a row without ``as_of`` is dated ``today``."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(REQUIRED) - set(reader.fieldnames or [])
        if missing:
            raise IndicatorFileError(f"missing column(s): {', '.join(sorted(missing))}")
        for n, raw in enumerate(reader, start=2):
            kato = raw["kato"].strip()
            if not (kato.isdigit() and len(kato) == 9):
                raise IndicatorFileError(f"row {n}: kato must be 9 digits, got {kato!r}")
            demand = _float(raw["labour_demand"], n, "labour_demand")
            if demand < 0:
                raise IndicatorFileError(f"row {n}: labour_demand must not be negative")
            rows.append(
                {
                    "kato": kato,
                    "labour_demand": demand,
                    "has_school": _bool(raw["school"], n, "school"),
                    "has_clinic": _bool(raw["clinic"], n, "clinic"),
                    "has_housing": _bool(raw["housing"], n, "housing"),
                    "has_transport": _bool(raw["transport"], n, "transport"),
                    "has_kindergarten": _maybe_bool(raw.get("kindergarten"), n, "kindergarten"),
                    "has_utilities": _maybe_bool(raw.get("utilities"), n, "utilities"),
                    "is_urban": _maybe_bool(raw.get("urban"), n, "urban"),
                    "low_potential": _maybe_bool(raw.get("low_potential"), n, "low_potential"),
                    "population_trend": _float(raw["population_trend"], n, "population_trend"),
                    "as_of": date.fromisoformat(raw["as_of"]) if raw.get("as_of") else today,
                    "source": (raw.get("source") or default_source).strip()[:200],
                    "is_demo": False,
                }
            )
    return rows


def upsert_indicators(conn: Connection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    # Rows built without the seed-004 columns (the demo's) leave them unknown.
    rows = [{"is_urban": None, "low_potential": None, **r} for r in rows]
    known = set(conn.execute(text("SELECT kato FROM settlements")).scalars())
    unknown = [r["kato"] for r in rows if r["kato"] not in known]
    if unknown:
        raise IndicatorFileError(f"unknown settlement KATO: {', '.join(unknown[:10])}")
    conn.execute(
        text(
            """
            INSERT INTO settlement_indicators (settlement_kato, labour_demand, has_school,
                has_clinic, has_housing, has_transport, has_kindergarten, has_utilities,
                population_trend, as_of, source, is_demo, is_urban, low_potential)
            VALUES (:kato, :labour_demand, :has_school, :has_clinic, :has_housing,
                    :has_transport, :has_kindergarten, :has_utilities, :population_trend,
                    :as_of, :source, :is_demo, :is_urban, :low_potential)
            ON CONFLICT (settlement_kato) DO UPDATE SET
                labour_demand = EXCLUDED.labour_demand, has_school = EXCLUDED.has_school,
                has_clinic = EXCLUDED.has_clinic, has_housing = EXCLUDED.has_housing,
                has_transport = EXCLUDED.has_transport,
                has_kindergarten = EXCLUDED.has_kindergarten,
                has_utilities = EXCLUDED.has_utilities,
                population_trend = EXCLUDED.population_trend, as_of = EXCLUDED.as_of,
                source = EXCLUDED.source, is_demo = EXCLUDED.is_demo,
                is_urban = EXCLUDED.is_urban, low_potential = EXCLUDED.low_potential
            """
        ),
        rows,
    )
    return len(rows)
