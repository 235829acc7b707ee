"""Demo settlement: indicators, quotas, lists, admitted families, one early departure."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.demo.register import Progress, _demo_bins, _settlement
from backend.services import events, policy
from backend.services.settlement import admission, quotas
from backend.settings import Settings
from gis.settlement_inputs import upsert_indicators

DEMO_INDICATOR_SOURCE = "ДЕМО: сгенерированные показатели / DEMO: generated indicators"


def load_settlement(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Demo indicators for every settlement, quotas, lists, admissions, one departure."""
    if session.scalar(text("SELECT count(*) FROM settlement_indicators")):
        return {"settlement indicators": 0}
    year = clock.today().year
    areas = policy.katos(session, "designated_areas")
    settlements = session.execute(
        text(
            "SELECT s.kato, s.region_kato, s.region_kato = ANY(:areas) FROM settlements s"
            " ORDER BY s.kato"
        ),
        {"areas": areas},
    ).all()
    local = random.Random(7)  # independent of the other steps: same world every time
    rows = []
    for kato, _region, _designated in settlements:
        rows.append(
            {
                "kato": kato,
                "labour_demand": round(local.uniform(0.2, 2.4), 2),
                "has_school": local.random() < 0.92,
                "has_clinic": local.random() < 0.8,
                "has_housing": local.random() < 0.75,
                "has_transport": local.random() < 0.85,
                "has_kindergarten": local.random() < 0.9,
                "has_utilities": local.random() < 0.9,
                "population_trend": round(local.uniform(-3.5, 3.0), 2),
                "as_of": clock.today(),
                "source": DEMO_INDICATOR_SOURCE,
                "is_demo": True,
            }
        )
    upsert_indicators(session.connection(), rows)
    designated = sorted({r for _k, r, d in settlements if d})
    for region in designated:
        small = region == "230000000"  # Atyrau: a nearly exhausted quota, for the map
        # Pavlodar's quota covers a medium-term period of three years (seed 004 p. 4).
        period = year + 2 if region == "550000000" else None
        quotas.set_quota(session, year, region, 6 if small else 400, 4 if small else 250, period)
        members = [k for k, r, _d in settlements if r == region]
        listed = [k for i, k in enumerate(members) if i % 5 != 4]  # four in five are listed
        quotas.set_settlement_list(session, year, region, listed)
    settlers = session.execute(
        text(
            """
            SELECT p.id, r.settlement_kato FROM persons p
            JOIN registrations r ON r.person_id = p.id AND r.ended_on IS NULL
            WHERE p.is_demo AND p.category IN ('kandas', 'resettler')
              AND r.region_kato = ANY(:areas) ORDER BY p.id
            """
        ),
        {"areas": areas},
    ).all()
    bins = _demo_bins()
    admitted = refused = 0
    first_admitted = None
    for i, (person_id, settlement_kato) in enumerate(settlers):
        session.execute(
            text(
                "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                " SELECT :y, region_kato, kato FROM settlements WHERE kato = :k"
                " ON CONFLICT DO NOTHING"
            ),
            {"y": year, "k": settlement_kato},
        )
        # A mobility certificate replaces the housing subsidy (seed 000): one or the other.
        support: dict[str, Any] = (
            {"housing_cost_kzt": 18_000_000 + 1_000_000 * i, "job_employer_bin": bins[1]}
            if i % 2 == 0
            else {"housing_subsidy_mrp_per_month": 15 + 5 * (i % 4), "housing_subsidy_months": 12}
        )
        try:
            admission.admit(
                session,
                {
                    "person_id": person_id,
                    "family_size": 2 + i % 4,
                    "settlement_kato": settlement_kato,
                    "year": year,
                    "support": support,
                },
            )
            admitted += 1
            first_admitted = first_admitted or person_id
        except admission.Refused:  # e.g. infrastructure missing: the demo goes on
            refused += 1
    if first_admitted is not None:
        # The first admitted family has moved to Almaty for good: a permanent registration
        # there makes their obligation suspected, for an analyst to confirm or dismiss.
        almaty = _settlement(session, "750000000", "Almaty")
        events.record_registration(
            session,
            {
                "person_id": first_admitted,
                "kind": "permanent",
                "settlement_kato": almaty,
                "address": "ДЕМО: Алматы, ул. Переездная, 1",
                "valid_from": clock.today(),
            },
        )
    # A kandas family that chose permanent residence on general terms: no quota, no
    # support, no obligation (seed 003).
    general = session.scalar(
        text(
            "SELECT p.id FROM persons p WHERE p.is_demo AND p.category = 'kandas'"
            " AND NOT EXISTS (SELECT 1 FROM settlement_obligations o WHERE o.person_id = p.id)"
            " ORDER BY p.id LIMIT 1"
        )
    )
    if general is not None:
        admission.choose_general_terms(session, general)
    return {
        "settlement indicators": len(rows),
        "families admitted": admitted,
        "applications refused": refused,
        "kandas on general terms": int(general is not None),
    }
