"""Demo of ministry monitoring: pre-selection decisions and the monitoring map."""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.demo.register import Progress
from backend.services.monitoring.maps import build_and_store_monitoring
from backend.services.monitoring.monitoring import Filters
from backend.services.settlement import preselection
from backend.settings import Settings

ACTOR = "demo"


def load_preselection(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Two residence-permit applicants scored: one passes, one does not (rule 13)."""
    if session.scalar(text("SELECT count(*) FROM preselections")):
        return {"pre-selection decisions": 0}
    applicants = session.scalars(
        text(
            "SELECT id FROM persons WHERE is_demo AND category IN"
            " ('temporary_resident', 'permanent_resident') ORDER BY id LIMIT 2"
        )
    ).all()
    parts = (
        {"language_score": 82, "questionnaire_score": 70, "interview_score": 64},
        {"language_score": 35, "questionnaire_score": 60, "interview_score": 55},
    )
    for person_id, scores in zip(applicants, parts, strict=False):
        preselection.decide(
            session, {"person_id": person_id, **scores, "checks_passed": True}, ACTOR
        )
    return {"pre-selection decisions": len(applicants)}


def build_monitoring_map(session: Session, settings: Settings) -> dict[str, int]:
    """The monitoring map of the last 30 days, so /maps/monitoring works right away."""
    artifact = build_and_store_monitoring(session, settings, Filters.of(), None)
    return {
        "monitoring map bytes (gzip)": artifact.gzip_bytes,
        "monitoring cells shown": artifact.params["density_cells"],
    }
