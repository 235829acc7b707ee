"""Demo register: employers, persons with registrations and permits, demo tokens."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.clock import add_months
from backend.identifiers import make_bin, make_iin
from backend.models import Employer, Permit, Person, User
from backend.services import events
from backend.services.access import accounts
from backend.services.access.tokens import create_token, verify_token
from backend.services.register import permits
from backend.services.tracking import devices
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
    kato: str | None = session.scalar(
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


def demo_household_iin() -> str:
    """The demo household employer: a private person, by IIN (rule 9; issue 24)."""
    serial = 4001
    while (iin := make_iin(date(1968, 5, 14), "F", serial)) is None:
        serial += 1
    return iin


def _name_demo_household(session: Session) -> None:
    """A household permit issued without an employer gets its household named (issue 24),
    so the household may file the termination notice: the last region's, leaving the
    demo phones' holders as they were."""
    iin = demo_household_iin()
    if session.get(Employer, iin) is not None:
        return
    permits.create_employer(session, iin, "Ахметова Айгуль (ДЕМО)", is_demo=True, kind="household")
    last = session.scalar(
        select(Permit.id)
        .join(Person, Person.id == Permit.person_id)
        .where(
            Person.is_demo.is_(True),
            Person.category == "labour_immigrant",
            Permit.employer_bin.is_(None),
            Permit.in_force(clock.today()),
        )
        .order_by(Person.id.desc())
        .limit(1)
    )
    if last is not None:
        permits.name_household_employer(session, last, iin)


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
        _name_demo_household(session)  # a demo loaded before the household was
        return {"persons": 0}
    for bin_, (_yymm, name) in zip(bins, DEMO_EMPLOYERS, strict=True):
        if session.get(Employer, bin_) is None:
            permits.create_employer(session, bin_, name, is_demo=True)
    today = clock.today()
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
            person = events.register_person(
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
            events.record_registration(
                session,
                {
                    "person_id": person.id,
                    # Kandas and resettlers arriving for admission stay temporarily first:
                    # a permanent registration in the same settlement would make their
                    # admission a move within one settlement (refused, seed 004 p. 2(7)).
                    "kind": "permanent"
                    if citizenship == "KAZ" and kind not in ("kandas", "resettler")
                    else "temporary",
                    "address": f"ДЕМО: {HOME_TOWNS[region]}, ул. Примерная, {10 + i}",
                    "settlement_kato": settlement,
                    "valid_from": today - timedelta(days=200),
                    "valid_to": None
                    if citizenship == "KAZ"
                    else today + timedelta(days=160 - i * 20),
                    # Foreigners arrived the day they registered; every third host
                    # notified a week late (docs/domain.md rule 8: a late_registration flag).
                    **(
                        {}
                        if citizenship == "KAZ"
                        else {
                            "arrived_on": today - timedelta(days=200),
                            "notified_on": today - timedelta(days=193 if i % 3 == 0 else 199),
                        }
                    ),
                },
            )
            if kind in ("labour_immigrant", "foreign_worker"):
                start = today - timedelta(days=60 + 40 * (i % 4))
                events.issue_permit(
                    session,
                    {
                        "person_id": person.id,
                        # One household permit per region; the first employer (the demo
                        # employer token's and account's) holds two permits per region.
                        "employer_bin": None
                        if kind == "labour_immigrant" and i == 6
                        else bins[(i - 4) % 3],
                        # Every fifth permit was issued in Astana: its holder works elsewhere.
                        "region_kato": "710000000" if i == 5 else region,
                        "valid_from": start,
                        "valid_to": add_months(start, 6) - timedelta(days=1),
                    },
                )
            created += 1
    # Who is who (issue 22): a kandas from China entered twice, as his Kazakh papers
    # write him and as his Chinese passport does: the second opens a duplicate review.
    for spelled in (
        {"surname_cyrillic": "Жанұзақов", "given_name_cyrillic": "Айдос"},
        {"surname_latin": "Zhanuzakefu", "given_name_latin": "Aiduosi"},
    ):
        events.register_person(
            session,
            {
                **spelled,
                "birth_date": date(1990, 1, 15),
                "sex": "M",
                "citizenship": "CHN",
                "category": "kandas",
            },
            is_demo=True,
        )
        created += 1
    permits.expire_permits(session)
    _name_demo_household(session)
    return {"persons": created, "employers": len(bins) + 1}


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
    wanted: dict[str, tuple[str, dict[str, Any]]] = {
        "admin": ("admin", {}),
        "analyst": ("analyst", {}),
        "officer": ("officer", {}),
        "officer_astana": ("officer", {"region_kato": "710000000"}),
        "employer": ("employer", {"employer_bin": bins[0]}),
        "household": ("employer", {"employer_bin": demo_household_iin()}),
    }
    for label, (role, scope) in wanted.items():
        if label not in existing:
            secret, _row = create_token(
                session, role, label=f"demo {label}", owner=f"demo:{label}", **scope
            )
            existing[label] = secret
    # The phones belong to household workers (a permit in force without an employer):
    # the people the monitoring-coverage indicator counts.
    household = (
        select(Person.id)
        .join(Permit, Permit.person_id == Person.id)
        .where(
            Person.is_demo.is_(True),
            Person.category == "labour_immigrant",
            Permit.employer_bin.is_(None),
            Permit.in_force(clock.today()),
        )
        .order_by(Person.id)
    )
    device_person = session.scalar(household.limit(1))
    if "device" not in existing and device_person is not None:
        secret, _row = create_token(
            session, "device", person_id=device_person, label="demo device", owner="demo:device"
        )
        existing["device"] = secret
    phone_person = session.scalar(household.offset(1).limit(1))
    if "phone" not in existing and phone_person is not None:
        enrolment = devices.enrol(
            session,
            phone_person,
            settings.public_url,
            settings.device_token_days or None,
            True,
            owner="demo:device",
        )
        devices.write_qr_codes(enrolment, settings.data_dir / "devices")
        existing["phone"] = enrolment.token
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in existing.items()))
    path.chmod(0o600)
    return existing


def demo_users(session: Session, settings: Settings) -> dict[str, str]:
    """Browser accounts for the tour: an officer and the first demo employer.

    Their passwords are written beside the demo tokens (readable by the owner only). An
    analyst or admin account needs a second factor, so the tour creates one by hand.
    """
    path = settings.data_dir / "demo-users.txt"
    if path.exists() and session.scalar(select(User.id).where(User.username == "demo-officer")):
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    wanted = {"demo-officer": ("officer", None), "demo-employer": ("employer", _demo_bins()[0])}
    made: dict[str, str] = {}
    for username, (role, bin_) in wanted.items():
        password = secrets.token_urlsafe(12)
        existing = session.scalar(select(User).where(User.username == username))
        if existing is None:
            accounts.create_user(session, username, role, password, employer_bin=bin_)
        else:
            accounts.set_password(session, username, password)
        made[username] = password
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in made.items()))
    path.chmod(0o600)
    return made
