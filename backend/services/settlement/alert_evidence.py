"""What a region alert rests on, and whether that may cost a family money.

A phone's clock is the family's own: one request can carry a day of back-dated fixes
from anywhere. So every fix keeps the server's receive time (``trace_points.received_at``)
beside its device time, and a fix is *live* only when the two agree within
``trace_live_tolerance_s``; the others are *backfilled* (flagged so at ingest).

A region dwell measured on backfilled fixes may open an alert, for an official to look
at, but only a dwell measured on live fixes is evidence of a departure: confirming an
alert that rests on backfilled fixes alone never makes an obligation suspected
(:func:`require_departure_evidence`, called in :mod:`backend.services.events`).
Every alert states its evidence in ``details.evidence``: counts, dwell, sources.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from backend.errors import Conflict
from backend.models import Alert

LIVE = "live_fixes"
BACKFILLED = "backfilled_fixes"

# The fixes after the last one inside the region: how many live and backfilled, the
# live ones' span, the sources and when the server received them. Expects the CTE
# ``outside (recorded_at, received_at, source)`` and the parameter ``:live_tolerance``.
OUTSIDE_EVIDENCE_SQL = """
    SELECT count(*) FILTER (WHERE live) AS live_fixes,
           count(*) FILTER (WHERE NOT live) AS backfilled_fixes,
           min(recorded_at) FILTER (WHERE live) AS live_from,
           max(recorded_at) FILTER (WHERE live) AS live_to,
           array_agg(DISTINCT source ORDER BY source) AS sources,
           min(received_at) AS received_from, max(received_at) AS received_to
    FROM (SELECT recorded_at, received_at, source,
                 recorded_at BETWEEN received_at - CAST(:live_tolerance AS interval)
                                 AND received_at + CAST(:live_tolerance AS interval) AS live
          FROM outside) o
"""


def _hours(first: datetime | None, last: datetime | None) -> float:
    if first is None or last is None:
        return 0.0
    return round((last - first).total_seconds() / 3600, 2)


def region_evidence(
    row: Any,
    outside_since: datetime,
    last_point: datetime,
    dwell: timedelta,
    live_tolerance: timedelta,
) -> dict[str, Any]:
    """The ``evidence`` of a region alert from the :data:`OUTSIDE_EVIDENCE_SQL` row."""
    live_dwell = _hours(row.live_from, row.live_to)
    return {
        "rests_on": LIVE if live_dwell * 3600 >= dwell.total_seconds() else BACKFILLED,
        "live_fixes": int(row.live_fixes or 0),
        "backfilled_fixes": int(row.backfilled_fixes or 0),
        "live_dwell_hours": live_dwell,
        "device_dwell_hours": _hours(outside_since, last_point),
        "sources": list(row.sources or []),
        "received_from": row.received_from,
        "received_to": row.received_to,
        "live_tolerance_s": int(live_tolerance.total_seconds()),
    }


def rests_on_live_fixes(details: dict[str, Any] | None) -> bool:
    """Whether an alert's dwell was measured on live fixes (the server saw it happen)."""
    evidence = (details or {}).get("evidence")
    return isinstance(evidence, dict) and evidence.get("rests_on") == LIVE


def require_departure_evidence(alert: Alert) -> None:
    """Refuse to turn an alert resting on backfilled fixes alone into a suspected breach.

    Alerts from before evidence was recorded carry none and are refused too: a backfilled
    absence could not be told from a live one.
    """
    if not rests_on_live_fixes(alert.details):
        raise Conflict(
            f"alert {alert.id} rests on backfilled fixes only (received long after their "
            "device time): it cannot alone be evidence of a departure; close it without "
            "confirming, or record the departure (e.g. a registration elsewhere)"
        )
