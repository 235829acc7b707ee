"""Codes shown as words in the reader's language: verdicts, reasons, roles, regions."""

from __future__ import annotations

from datetime import date, datetime

import pycountry
from flask_babel import (
    format_date,
    format_datetime,
    format_decimal,
    format_timedelta,
    get_locale,
)
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.models import Region, labels

LANGUAGES = (("ru", "Русский"), ("kk", "Қазақша"), ("en", "English"))

VERDICTS = {code: _l(label) for code, label in labels.CHECK_VERDICTS.items()}
REASONS = {
    "no_registration": _l("Not registered at any place of stay"),
    "registration_expired": _l("The registration has expired"),
    "no_permit": _l("Has no work permit"),
    "permit_not_yet_valid": _l("The permit is not valid yet"),
    "permit_expired": _l("The permit has expired"),
    "permit_terminated": _l("The permit was ended by the employer"),
    "permit_revoked": _l("The permit was revoked"),
    "outside_permit_region": _l("Working outside the region of the permit"),
}
# Beside the verdict, not changing it (backend/services/register/checks.py ``warnings``).
WARNINGS = {
    "late_registration": _l(
        "Registered late: the notification came after the deadline in force on arrival"
    ),
}
# What agreed between two records the match scores (backend/services/identity/matching.py).
MATCH_REASONS = {
    "surname_same": _l("Same surname"),
    "surname_agrees_across_scripts": _l("Surname agrees across scripts"),
    "surname_similar": _l("Similar surname"),
    "surname_sounds_alike": _l("Surname sounds alike"),
    "given_name_same": _l("Same given name"),
    "given_name_agrees_across_scripts": _l("Given name agrees across scripts"),
    "given_name_similar": _l("Similar given name"),
    "given_name_sounds_alike": _l("Given name sounds alike"),
    "names_in_other_order": _l("Names written in the other order"),
    "birth_date_exact": _l("Same birth date"),
    "birth_date_day_month_swapped": _l("Birth date with day and month swapped"),
    "birth_date_within_window": _l("Birth date a few days apart"),
    "sex_same": _l("Same sex"),
    "citizenship_same": _l("Same citizenship"),
    "document_same": _l("Same document number"),
    "different_real_iins": _l("Two different real IINs"),
}
ROLES = {code: _l(label) for code, label in labels.ROLES.items()}
CATEGORIES = {code: _l(label) for code, label in labels.CATEGORIES.items()}
PERMIT_STATUSES = {code: _l(label) for code, label in labels.PERMIT_STATUSES.items()}
ALERT_STATUSES = {code: _l(label) for code, label in labels.ALERT_STATUSES.items()}
ALERT_KINDS = {code: _l(label) for code, label in labels.ALERT_KINDS.items()}


INDICATORS = {
    "internal_mobility_share": _l("Internal mobility to the north and east"),
    "monitoring_coverage": _l("Monitoring coverage of household labour immigrants"),
    "retention_3y": _l("Kandas and resettlers living 3+ years in the macroregion"),
    "quota_fill": _l("Quota fill"),
    "external_migration_balance": _l("External migration balance, thousand people"),
    "qualified_arrivals_share": _l("Qualified share of working-age arrivals"),
    "kazakh_card_holders": _l("Kazakh Card holders"),
    "foreign_students_share": _l("Foreign students' share"),
    "investment_visas": _l("Investment visas issued"),
}
_EXTERNAL = _l("Table 1 of the Concept; not in the register: an external source reports it.")
# What each indicator counts, in the reader's language (the API gives the English text
# with this occurrence's figures).
DEFINITIONS = {
    "internal_mobility_share": _l(
        "Share of interregional arrivals (a new permanent registration in another region "
        "than the previous one) that go to the northern and eastern regions; citizens' "
        "moves only. For one region: its arrivals among all the country's."
    ),
    "monitoring_coverage": _l(
        "Share of household labour immigrants with a permit in force whose phone reported "
        "within the coverage window; a phone that never reports does not count."
    ),
    "retention_3y": _l(
        "Share of kandas and resettlers (every family member) admitted into the northern "
        "and centre-east macroregion at least 3 years before who still live in it."
    ),
    "quota_fill": _l(
        "People admitted (family members) against the year's regional quotas for kandas "
        "and resettlers."
    ),
    "external_migration_balance": _EXTERNAL,
    "qualified_arrivals_share": _EXTERNAL,
    "kazakh_card_holders": _EXTERNAL,
    "foreign_students_share": _EXTERNAL,
    "investment_visas": _EXTERNAL,
}
# Indicators counted in people or thousands, not shares.
COUNTED = ("external_migration_balance", "kazakh_card_holders", "investment_visas")


def lang() -> str:
    return str(get_locale() or "ru")


def region_names(session: Session) -> dict[str, str]:
    """KATO → region name in the page's language."""
    column = {"kk": Region.name_kk, "en": Region.name_en}.get(lang(), Region.name_ru)
    return {kato: name for kato, name in session.execute(select(Region.kato, column))}


# The pages every role may open, in the order of the bar on top of each page:
# (endpoint, label, path, roles). The API's own guards still decide; this only hides
# links a role would be refused.
_PAGES = (
    ("web.home", _l("Home"), "/", ("admin", "analyst", "officer", "employer")),
    ("admin.admin", _l("Administration"), "/admin", ("admin",)),
    ("dashboard.dashboard", _l("Dashboard"), "/dashboard", ("admin", "analyst")),
    (
        "monitoring_pages.monitoring_page",
        _l("Monitoring map"),
        "/maps/monitoring",
        ("admin", "analyst"),
    ),
    ("map_pages.map_page", _l("Settlement map"), "/maps/kandas-settlement", ("admin", "analyst")),
    ("openapi.docs", _l("API docs"), "/api/docs", ("admin", "analyst", "officer", "employer")),
    ("ogc.landing", _l("OGC"), "/ogc/", ("admin", "analyst")),
)


def navigation(role: str) -> list[tuple[str, object, str]]:
    """The bar's links for ``role``: (endpoint, label, path)."""
    return [(e, label, path) for e, label, path, roles in _PAGES if role in roles]


def since(moment: datetime | None) -> str:
    """How long ago, in the reader's language ("5 minutes", "2 hours")."""
    if moment is None:
        return ""
    return str(format_timedelta(clock.now() - moment, threshold=1.1))


def day(value: date | datetime | str | None) -> str:
    """A date as its reader writes it: 04.12.2026 in Russian and Kazakh, Dec 4, 2026 in
    English (Babel's locale data); a moment is first taken to Kazakhstan's local day."""
    if not value:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = clock.today(value)
    return str(format_date(value, "medium" if lang() == "en" else "dd.MM.yyyy"))


def moment(value: datetime | None) -> str:
    """A moment in Kazakhstan's local time, written the reader's way."""
    if value is None:
        return ""
    local = value.astimezone(clock.LOCAL_TZ).replace(tzinfo=None)
    pattern = "medium" if lang() == "en" else "dd.MM.yyyy HH:mm"
    return str(format_datetime(local, pattern, rebase=False))


TOKEN_STATES = {
    "active": _l("active"),
    "expired": _l("expired"),
    "revoked": _l("revoked"),
}


def country(code: str | None) -> str:
    """An ISO 3166 alpha-3 citizenship code as the country's name in the reader's
    language (Babel's territory names), the code kept beside it."""
    if not code:
        return ""
    found = pycountry.countries.get(alpha_3=code.upper())
    name = get_locale().territories.get(found.alpha_2) if found and get_locale() else None
    return f"{name} ({code})" if name else code


def share(value: float | None) -> str:
    """A share as a percentage the reader's way: 15,0 % in Russian, 15.0 % in English."""
    if value is None:
        return "—"
    return f"{format_decimal(value * 100, '#,##0.0')} %"


def number(value: float | None) -> str:
    """A count with the reader's digit grouping (12 345 in Russian, 12,345 in English)."""
    return "—" if value is None else str(format_decimal(value, "#,##0.##"))


def figure(value: float | None, counted: bool) -> str:
    return number(value) if counted else share(value)


# Where each indicator comes from, in the reader's language (the API gives the English).
SOURCES = {
    "Concept of migration policy 2023-2027, table 1 (seed 002)": _l(
        "Concept of migration policy of the Republic of Kazakhstan for 2023-2027, table 1"
    ),
    "Register: quotas and admissions": _l("Register: quotas and admissions"),
}
ON_TRACK = _l("on track")
BEHIND = _l("behind the target")
NO_TARGET = _l("no target this year")
NO_DATA = _l("no data yet")


def standing(value: float | None, target: float | None) -> tuple[str, object]:
    """The value against the year's target: (css class, words)."""
    if target is None:
        return "none", NO_TARGET
    if value is None:
        return "none", NO_DATA
    return ("ok", ON_TRACK) if value >= target else ("behind", BEHIND)
