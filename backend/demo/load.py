"""A small believable world of demo data, every row marked ``is_demo``.

Safe to run twice: each step checks whether its data is already there. Later
capabilities add their own steps to :data:`STEPS`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.db import Database, one_connection_per_node
from backend.demo.monitoring import build_monitoring_map, load_preselection
from backend.demo.notify import load_notifications
from backend.demo.register import Progress, demo_tokens, demo_users, load_register
from backend.demo.settlement import load_settlement
from backend.demo.traces import demo_phone, load_traces
from backend.models import ApiToken, Permit
from backend.services.credentials import status_lists
from backend.services.monitoring.maps import build_and_store
from backend.services.tracking import alert_rules, residence
from backend.settings import Settings


def build_demo_map(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Render the settlement map once so /maps/kandas-settlement works right away."""
    artifact = build_and_store(session, settings, None, None)
    return {"map bytes (gzip)": artifact.gzip_bytes}


STEPS: tuple[Callable[[Session, Settings, random.Random, Progress], dict[str, int]], ...] = (
    load_register,
    load_traces,
    load_settlement,
    load_preselection,
    load_notifications,
    build_demo_map,
)


def load_demo(database: Database, settings: Settings, progress: Progress) -> dict[str, Any]:
    """Run every demo step in order, each in its own transaction."""
    rng = random.Random(2026)
    summary: dict[str, Any] = {}
    for step in STEPS:
        with database.transaction() as session:
            # (a step reads the register, then adds employers and geography it needs)
            one_connection_per_node(session)
            summary.update(step(session, settings, rng, progress))
    summary["alerts evaluated for persons"] = alert_rules.evaluate_dirty(database, settings)
    with database.transaction() as session:
        alert_rules.sweep_silent_devices(session)
    residence.sweep_residence(database, settings)
    with database.transaction() as session:  # after the alerts, which it shows
        summary.update(build_monitoring_map(session, settings))
    with database.transaction() as session:  # the permits' revocation, for /verify
        published = status_lists.publish(session, settings)
        summary["status lists"] = ", ".join(f"{p.name} {p.compressed_bytes} B" for p in published)
        first = session.scalar(select(Permit.id).order_by(Permit.id).limit(1))
        if first is not None:
            summary["a permit as a credential"] = f"/api/v1/permits/{first}/credential (/verify)"
    with database.transaction() as session:
        tokens = demo_tokens(session, settings)
        summary["demo tokens"] = f"{len(tokens)} in {settings.data_dir / 'demo-tokens.txt'}"
        users = demo_users(session, settings)
        summary["demo accounts"] = f"{len(users)} in {settings.data_dir / 'demo-users.txt'}"
    if "phone" in tokens:
        summary.update(demo_phone(database, settings, tokens["phone"]))
    with database.transaction() as session:
        summary["tokens in database"] = session.scalar(
            select(text("count(*)")).select_from(ApiToken)
        )
    return summary
