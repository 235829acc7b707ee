"""Demo movement: a week of traces for three labour immigrants, and one enrolled phone."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.db import Database
from backend.demo.register import Progress
from backend.services.access.tokens import verify_token
from backend.services.tracking import alert_rules, phone_ingest, traces
from backend.services.tracking import phone_protocols as protocols
from backend.services.tracking.phone_apps import gpslogger
from backend.services.tracking.trace_points import point_from_batch
from backend.settings import Settings


def route(
    start: datetime, legs: Sequence[tuple[float, tuple[float, float]]], step_min: int = 20
) -> list[dict[str, Any]]:
    """Batch points every ``step_min`` minutes, 15 m GPS fixes: each leg is (hours, (lat, lon))."""
    points, t = [], start
    for hours, (lat, lon) in legs:
        end = t + timedelta(hours=hours)
        while t < end:
            points.append({"t": t.isoformat(), "lat": lat, "lon": lon, "accuracy_m": 15.0})
            t += timedelta(minutes=step_min)
    return points


def load_traces(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """A week of phone traces for three demo labour immigrants, so alerts show up.

    - one stays home and took a 2-hour trip out of the permit region (no alert);
    - one has been outside the permit region for 30 hours (open ``left_permit_region``);
    - one went away for 30 hours and came back (the alert opened and closed).
    """
    people = session.execute(
        text(
            """
            SELECT p.id, ST_Y(r.geom), ST_X(r.geom) FROM persons p
            JOIN registrations r ON r.person_id = p.id AND r.ended_on IS NULL
            JOIN permits m ON m.person_id = p.id AND m.status = 'active'
                AND m.region_kato = r.region_kato
            WHERE p.is_demo AND p.category = 'labour_immigrant' ORDER BY p.id LIMIT 3
            """
        )
    ).all()
    if len(people) < 3 or session.scalar(
        text("SELECT count(*) FROM trace_last_positions WHERE person_id = ANY(:ids)"),
        {"ids": [p[0] for p in people]},
    ):
        return {"trace points": 0}
    now = clock.now().replace(second=0, microsecond=0)
    start = now - timedelta(days=7)
    total = 0
    with progress(list(enumerate(people)), "demo traces") as bar:
        for i, (person_id, lat, lon) in bar:
            home = (lat, lon)
            away = (lat + 1.5, lon + 1.5) if lat < 50 else (lat - 1.2, lon + 1.2)
            if i == 0:
                parts = [[(160, home), (2, away), (6, home)]]
            elif i == 1:
                parts = [[(138, home), (30, away)]]
            else:  # uploaded in two parts: away (alert opens), then back (it closes)
                parts = [[(100, home), (30, away)], [(38, home)]]
            t = start
            for legs in parts:
                points = route(t, legs)
                t += timedelta(hours=sum(hours for hours, _ in legs))
                result = traces.ingest(
                    session,
                    points,
                    partial(point_from_batch, person_id=person_id),
                    "demo",
                    settings,
                )
                alert_rules.evaluate_person(session, person_id, settings)
                total += result.accepted
    return {"trace points": total}


def demo_phone(database: Database, settings: Settings, secret: str) -> dict[str, Any]:
    """An enrolled phone's day as the apps send it: OsmAnd and Traccar Client fixes, a
    clock a few minutes fast, a fix off the map (refused and recorded, answered 200), a
    heartbeat without a fix, and an SOS — which raises an urgent alert."""
    with database.transaction() as session:
        device = verify_token(session, secret)
    assert device is not None and device.person_id is not None
    now = clock.now().replace(microsecond=0)
    pid = device.person_id

    def fix(minutes_ago: float, **extra: str) -> dict[str, str]:
        t = now - timedelta(minutes=minutes_ago)
        return {
            "lat": "51.1282",
            "lon": "71.4307",
            "timestamp": str(int(t.timestamp())),
            "accuracy": "9.0",
            "speed": "0.0",
            "batt": "71.0",
            **extra,
        }

    requests = [
        (
            "osmand",
            {
                "lat": "51.1290",
                "lon": "71.4310",
                "hdop": "12.0",
                "speed": "1.2",
                "timestamp": str(int((now - timedelta(minutes=50)).timestamp() * 1000)),
            },
        ),
        ("traccar", fix(40)),
        ("traccar", fix(-5)),  # the phone's clock is 5 minutes fast: kept, flagged
        ("traccar", fix(30, lat="95.0")),  # no such place: refused, recorded, answered 200
        ("traccar", {}),  # a heartbeat without a fix: counts as contact
        ("traccar", fix(10, alarm="sos")),
    ]
    # GPSLogger's Custom URL as the app fills it (placeholders %LAT, %TIME, %SPD m/s ...).
    gps_time = (now - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    gps_fix = {"lat": "51.1286", "lon": "71.4311", "time": gps_time, "acc": "6.0", "spd": "0.8"}
    stored = refused = 0
    for client, params in [*requests, ("gpslogger", gps_fix)]:
        parsed = (
            [gpslogger.from_gpslogger(params, pid, now)]
            if client == "gpslogger"
            else [protocols.from_osmand_params(params, pid, now)]
        )
        raw = f"demo {params}"
        outcome = phone_ingest.ingest_phone(
            database, device, parsed, client, settings, str(uuid.uuid4()), raw.__str__
        )
        stored, refused = stored + outcome.stored, refused + len(outcome.refused)
    return {
        "demo phone (person)": pid,
        "demo phone points stored": stored,
        "demo phone refusals recorded": refused,
        "demo phone QR codes": str(settings.data_dir / "devices"),
    }
