"""A small believable world of demo data, every row marked ``is_demo``.

Safe to run twice: each step checks whether its data is already there. Later
capabilities add their own steps to :data:`STEPS`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from backend.db import Database
from backend.identifiers import make_bin, make_iin
from backend.models import ApiToken, Employer, Person
from backend.services import (
    alerts,
    devices,
    permits,
    persons,
    phone_ingest,
    registrations,
    residence,
    settlement,
    traces,
)
from backend.services import phone_protocols as protocols
from backend.services.tokens import create_token, verify_token
from backend.services.trace_points import point_from_batch
from backend.settings import Settings

Progress = Callable[[Iterable[Any], str], Any]

DEMO_EMPLOYERS = (
    ("2203", "ТОО «Демо-Строй Астана» (ДЕМО)"),
    ("1911", "ТОО «Демо Агро Павлодар» (ДЕМО)"),
    ("2105", "ИП «Демо Сервис Алматы» (ДЕМО)"),
)
KZ_SURNAMES = ("Абенов", "Жумабаев", "Касымов", "Нурланов", "Сейткали", "Ахметов", "Омаров")
KZ_FEMALE_SURNAMES = ("Абенова", "Жумабаева", "Касымова", "Нурланова", "Ахметова", "Омарова")
KZ_MALE_NAMES = ("Ержан", "Нурлан", "Асхат", "Бауыржан", "Данияр", "Серик")
KZ_FEMALE_NAMES = ("Айгерим", "Динара", "Жанар", "Алия", "Сауле", "Меруерт")
FOREIGN = {
    "UZB": (("Каримов", "Юсупов", "Рахимов"), ("Шерзод", "Бахтиёр", "Улугбек")),
    "KGZ": (("Токтогулов", "Асанов", "Мамбетов"), ("Бакыт", "Азамат", "Эрлан")),
    "TJK": (("Саидов", "Назаров", "Шарипов"), ("Фаррух", "Далер", "Сухроб")),
    "CHN": (("Ли", "Ван", "Чжан"), ("Вэй", "Мин", "Хао")),
}
# Region KATO → settlement names to register demo persons in (GeoNames spelling).
HOME_TOWNS = {
    "710000000": "Astana",
    "750000000": "Almaty",
    "790000000": "Shymkent",
    "550000000": "Pavlodar",
    "390000000": "Kostanay",
    "630000000": "Ust-Kamenogorsk",
    "350000000": "Karagandy",
    "230000000": "Atyrau",
}
TOKEN_ROLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("admin", {}),
    ("analyst", {}),
    ("officer", {}),
    ("officer", {"region_kato": "710000000"}),
    ("employer", {"employer": 0}),
)


def _settlement(session: Session, region: str, name: str) -> str:
    kato = session.scalar(
        text("SELECT kato FROM settlements WHERE region_kato = :r AND name = :n LIMIT 1"),
        {"r": region, "n": name},
    )
    if kato is None:
        raise RuntimeError("reference geography is not loaded: run `qonys gis load-reference`")
    return kato


def _demo_bins() -> list[str]:
    out = []
    for i, (yymm, _name) in enumerate(DEMO_EMPLOYERS):
        serial = 1 + i
        while (bin_ := make_bin(yymm, 4, serial)) is None:
            serial += 10
        out.append(bin_)
    return out


def _citizen_iin(rng: random.Random, birth: date, sex: str) -> str:
    while True:
        iin = make_iin(birth, sex, rng.randint(1000, 8999))
        if iin:
            return iin


def load_register(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Employers, ~80 persons across regions, their registrations and permits."""
    bins = _demo_bins()
    if session.scalar(select(exists().where(Person.is_demo.is_(True)))):
        return {"persons": 0}
    for bin_, (_yymm, name) in zip(bins, DEMO_EMPLOYERS, strict=True):
        if session.get(Employer, bin_) is None:
            permits.create_employer(session, bin_, name, is_demo=True)
    today = date.today()
    created = 0
    plan = [(region, i) for region in HOME_TOWNS for i in range(10)]
    with progress(plan, "demo register") as bar:
        for region, i in bar:
            settlement = _settlement(session, region, HOME_TOWNS[region])
            kind = (
                "citizen",
                "citizen",
                "kandas",
                "resettler",
                "labour_immigrant",
                "labour_immigrant",
                "labour_immigrant",
                "foreign_worker",
                "permanent_resident",
                "temporary_resident",
            )[i]
            sex = "F" if i % 3 == 1 else "M"
            birth = date(1970 + rng.randint(0, 35), rng.randint(1, 12), rng.randint(1, 28))
            if kind in ("citizen", "kandas", "resettler"):
                surname = rng.choice(KZ_FEMALE_SURNAMES if sex == "F" else KZ_SURNAMES)
                given = rng.choice(KZ_FEMALE_NAMES if sex == "F" else KZ_MALE_NAMES)
                citizenship, iin = "KAZ", _citizen_iin(rng, birth, sex)
            else:
                citizenship = rng.choice(list(FOREIGN))
                surnames, names = FOREIGN[citizenship]
                surname, given, sex, iin = rng.choice(surnames), rng.choice(names), "M", None
            person = persons.create_person(
                session,
                {
                    "iin": iin,
                    "surname": surname,
                    "given_name": given,
                    "birth_date": birth,
                    "sex": sex,
                    "citizenship": citizenship,
                    "category": kind,
                    "document": {"type": "passport", "number": f"DEMO{region[:2]}{i:04d}"},
                },
                is_demo=True,
            )
            registrations.create_registration(
                session,
                {
                    "person_id": person.id,
                    "kind": "permanent" if citizenship == "KAZ" else "temporary",
                    "address": f"ДЕМО: {HOME_TOWNS[region]}, ул. Примерная, {10 + i}",
                    "settlement_kato": settlement,
                    "valid_from": today - timedelta(days=200),
                    "valid_to": None
                    if citizenship == "KAZ"
                    else today + timedelta(days=160 - i * 20),
                },
            )
            if kind in ("labour_immigrant", "foreign_worker"):
                start = today - timedelta(days=60 + 40 * (i % 4))
                permits.create_permit(
                    session,
                    {
                        "person_id": person.id,
                        "employer_bin": None
                        if kind == "labour_immigrant" and i == 6
                        else bins[i % 3],
                        # Every fifth permit was issued in Astana: its holder works elsewhere.
                        "region_kato": "710000000" if i == 5 else region,
                        "valid_from": start,
                        "valid_to": permits.add_months(start, 6) - timedelta(days=1),
                    },
                    settings,
                )
            created += 1
    permits.expire_permits(session)
    return {"persons": created, "employers": len(bins)}


def demo_tokens(session: Session, settings: Settings) -> dict[str, str]:
    """Demo tokens for the README tour, kept in the data folder (readable by its owner only)."""
    path = settings.data_dir / "demo-tokens.txt"
    existing: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            label, _, secret = line.partition("=")
            if secret and verify_token(session, secret) is not None:
                existing[label] = secret
    bins = _demo_bins()
    wanted = {
        "admin": ("admin", {}),
        "analyst": ("analyst", {}),
        "officer": ("officer", {}),
        "officer_astana": ("officer", {"region_kato": "710000000"}),
        "employer": ("employer", {"employer_bin": bins[0]}),
    }
    for label, (role, scope) in wanted.items():
        if label not in existing:
            secret, _row = create_token(session, role, label=f"demo {label}", **scope)
            existing[label] = secret
    device_person = session.scalar(
        select(Person.id)
        .where(Person.is_demo.is_(True), Person.category == "labour_immigrant")
        .order_by(Person.id)
        .limit(1)
    )
    if "device" not in existing and device_person is not None:
        secret, _row = create_token(session, "device", person_id=device_person, label="demo device")
        existing["device"] = secret
    phone_person = session.scalar(
        select(Person.id)
        .where(Person.is_demo.is_(True), Person.category == "labour_immigrant")
        .order_by(Person.id)
        .offset(1)
        .limit(1)
    )
    if "phone" not in existing and phone_person is not None:
        enrolment = devices.enrol(
            session, phone_person, settings.public_url, settings.device_token_days or None, True
        )
        devices.write_qr_codes(enrolment, settings.data_dir / "devices")
        existing["phone"] = enrolment.token
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in existing.items()))
    path.chmod(0o600)
    return existing


def _demo_route(
    start: datetime, legs: list[tuple[float, tuple[float, float]]], step_min: int = 20
) -> list[dict[str, Any]]:
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
                AND current_date BETWEEN m.valid_from AND m.valid_to
            WHERE p.is_demo AND p.category = 'labour_immigrant' ORDER BY p.id LIMIT 3
            """
        )
    ).all()
    if len(people) < 3 or session.scalar(
        text("SELECT count(*) FROM trace_last_positions WHERE person_id = ANY(:ids)"),
        {"ids": [p[0] for p in people]},
    ):
        return {"trace points": 0}
    now = datetime.now(UTC).replace(second=0, microsecond=0)
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
                points = _demo_route(t, legs)
                t += timedelta(hours=sum(hours for hours, _ in legs))
                result = traces.ingest(
                    session,
                    points,
                    partial(point_from_batch, person_id=person_id),
                    "demo",
                    settings,
                )
                alerts.evaluate_person(session, person_id, settings)
                total += result.accepted
    return {"trace points": total}


DEMO_INDICATOR_SOURCE = "ДЕМО: сгенерированные показатели / DEMO: generated indicators"


def load_settlement(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Demo indicators for every settlement, quotas, lists, admissions and one breach."""
    if session.scalar(text("SELECT count(*) FROM settlement_indicators")):
        return {"settlement indicators": 0}
    year = date.today().year
    settlements = session.execute(
        text(
            "SELECT s.kato, s.region_kato, r.designated_for_settlement FROM settlements s"
            " JOIN regions r ON r.kato = s.region_kato ORDER BY s.kato"
        )
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
                "population_trend": round(local.uniform(-3.5, 3.0), 2),
                "as_of": date.today(),
                "source": DEMO_INDICATOR_SOURCE,
                "is_demo": True,
            }
        )
    from gis.indicators import upsert_indicators

    upsert_indicators(session.connection(), rows)
    designated = sorted({r for _k, r, d in settlements if d})
    for region in designated:
        small = region == "230000000"  # Atyrau: a nearly exhausted quota, for the map
        settlement.set_quota(session, year, region, 6 if small else 400, 4 if small else 250)
        members = [k for k, r, _d in settlements if r == region]
        listed = [k for i, k in enumerate(members) if i % 5 != 4]  # four in five are listed
        settlement.set_settlement_list(session, year, region, listed, settings)
    settlers = session.execute(
        text(
            """
            SELECT p.id, r.settlement_kato FROM persons p
            JOIN registrations r ON r.person_id = p.id AND r.ended_on IS NULL
            JOIN regions g ON g.kato = r.region_kato AND g.designated_for_settlement
            WHERE p.is_demo AND p.category IN ('kandas', 'resettler') ORDER BY p.id
            """
        )
    ).all()
    bins = _demo_bins()
    admitted = refused = 0
    for i, (person_id, settlement_kato) in enumerate(settlers):
        session.execute(
            text(
                "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                " SELECT :y, region_kato, kato FROM settlements WHERE kato = :k"
                " ON CONFLICT DO NOTHING"
            ),
            {"y": year, "k": settlement_kato},
        )
        support: dict[str, Any] = {"housing_subsidy_mrp_per_month": 15 + 5 * (i % 4)}
        if i % 2 == 0:
            support |= {"housing_cost_kzt": 18_000_000 + 1_000_000 * i, "job_employer_bin": bins[1]}
        try:
            settlement.admit(
                session,
                {
                    "person_id": person_id,
                    "family_size": 2 + i % 4,
                    "settlement_kato": settlement_kato,
                    "year": year,
                    "support": support,
                },
                settings,
            )
            admitted += 1
        except settlement.Refused:  # checked before anything is written: the demo goes on
            refused += 1
    if settlers:
        # The first admitted family has moved to Almaty: a registration there is a breach.
        almaty = _settlement(session, "750000000", "Almaty")
        registrations.create_registration(
            session,
            {
                "person_id": settlers[0][0],
                "kind": "permanent",
                "settlement_kato": almaty,
                "address": "ДЕМО: Алматы, ул. Переездная, 1",
                "valid_from": date.today(),
            },
        )
    return {
        "settlement indicators": len(rows),
        "families admitted": admitted,
        "applications refused": refused,
    }


def demo_phone(database: Database, settings: Settings, secret: str) -> dict[str, Any]:
    """An enrolled phone's day as the apps send it: OsmAnd and Traccar Client fixes, a
    clock a few minutes fast, a fix off the map (refused and recorded, answered 200), a
    heartbeat without a fix, and an SOS — which raises an urgent alert."""
    with database.transaction() as session:
        device = verify_token(session, secret)
    assert device is not None and device.person_id is not None
    now = datetime.now(UTC).replace(microsecond=0)
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
    stored = refused = 0
    for client, params in requests:
        parsed = [protocols.from_osmand_params(params, pid, now)]
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


def build_demo_map(
    session: Session, settings: Settings, rng: random.Random, progress: Progress
) -> dict[str, int]:
    """Render the settlement map once so /maps/kandas-settlement works right away."""
    from backend.services.maps import build_and_store

    artifact = build_and_store(session, settings, None, None)
    return {"map bytes (gzip)": artifact.gzip_bytes}


STEPS: tuple[Callable[[Session, Settings, random.Random, Progress], dict[str, int]], ...] = (
    load_register,
    load_traces,
    load_settlement,
    build_demo_map,
)


def load_demo(database: Database, settings: Settings, progress: Progress) -> dict[str, Any]:
    """Run every demo step in order, each in its own transaction."""
    rng = random.Random(2026)
    summary: dict[str, Any] = {}
    for step in STEPS:
        with database.transaction() as session:
            summary.update(step(session, settings, rng, progress))
    summary["alerts evaluated for persons"] = alerts.evaluate_dirty(database, settings)
    with database.transaction() as session:
        alerts.sweep_silent_devices(session, settings)
    residence.sweep_residence(database, settings)
    with database.transaction() as session:
        tokens = demo_tokens(session, settings)
        summary["demo tokens"] = f"{len(tokens)} in {settings.data_dir / 'demo-tokens.txt'}"
    if "phone" in tokens:
        summary.update(demo_phone(database, settings, tokens["phone"]))
    with database.transaction() as session:
        summary["tokens in database"] = session.scalar(
            select(text("count(*)")).select_from(ApiToken)
        )
    return summary
