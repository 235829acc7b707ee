"""Demo data for telling people (issue 26): hosts' contacts given for a fresh arrival
(the hourly job reminds them the working day before the registration deadline), and the
server's Web Push key, so the officer's page can subscribe at once."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.demo.register import Progress
from backend.services.notify import contacts, push
from backend.settings import Settings

PURPOSE = "demo: registration reminders"
LANGUAGES = ("ru", "kk", "en")


def load_notifications(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    push.public_key(settings)  # generated into the data folder (0600) on first use
    if session.scalar(
        text("SELECT count(*) FROM person_contacts WHERE purpose = :p"), {"p": PURPOSE}
    ):
        return {"hosts' contacts awaiting a registration": 0}
    # Three demo labour immigrants whose host reported an arrival yesterday: no
    # registration since, so each is a case the reminder job tells (example addresses).
    people = session.scalars(
        text(
            "SELECT id FROM persons WHERE is_demo AND citizenship <> 'KAZ'"
            " AND category = 'labour_immigrant' ORDER BY id LIMIT 3"
        )
    ).all()
    arrived = clock.today() - timedelta(days=1)
    for n, person_id in enumerate(people):
        contacts.add_contact(
            session,
            person_id,
            {
                "relation": "host",
                "email": f"host{n + 1}@demo.example",
                "phone": f"+7701000000{n + 1}",
                "language": LANGUAGES[n % 3],
                "purpose": PURPOSE,
                "consent": True,
                "arrived_on": arrived,
            },
            settings.contact_retention_days,
        )
    return {"hosts' contacts awaiting a registration": len(people)}
