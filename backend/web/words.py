"""Codes shown as words in the reader's language: verdicts, reasons, roles, regions."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Region

LANGUAGES = (("ru", "Русский"), ("kk", "Қазақша"), ("en", "English"))

VERDICTS = {
    "ok": _l("No violation"),
    "violation": _l("Violation"),
    "not_found": _l("Not in the register"),
}
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
ROLES = {
    "admin": _l("administrator"),
    "analyst": _l("analyst"),
    "officer": _l("field officer"),
    "employer": _l("employer"),
}
CATEGORIES = {
    "citizen": _l("citizen"),
    "resettler": _l("resettler"),
    "kandas": _l("kandas"),
    "labour_immigrant": _l("labour immigrant"),
    "foreign_worker": _l("foreign worker"),
    "temporary_resident": _l("temporary resident"),
    "permanent_resident": _l("permanent resident"),
    "refugee": _l("refugee"),
    "asylum_seeker": _l("asylum seeker"),
    "stateless": _l("stateless person"),
}
PERMIT_STATUSES = {
    "active": _l("in force"),
    "expired": _l("expired"),
    "terminated": _l("ended by the employer"),
    "revoked": _l("revoked"),
}
ALERT_KINDS = {
    "left_permit_region": _l("Outside the permit region"),
    "left_settlement_region": _l("Left the settlement region"),
    "permit_expired_present": _l("Present after the permit ended"),
    "silent_device": _l("Phone silent"),
    "residence_mismatch": _l("Spends nights away from the registered address"),
    "late_termination_notice": _l("Late notice from the employer"),
    "mock_location": _l("Fake location on the phone"),
    "sos": _l("SOS from the phone"),
}


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
