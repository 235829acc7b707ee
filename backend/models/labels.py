"""Words for every code of the registries shown to people, one label each.

The labels are Babel message ids: their Russian, Kazakh and English words live in the
catalogues only (``backend/translations``), read by the pages through Flask-Babel and by
the maps (built in a job, without a request) through :func:`catalogue`.
``tests/unit/test_labels.py`` fails when a registry code lacks a label or a label lacks
a translation.
"""

from __future__ import annotations

from functools import cache

from babel.support import NullTranslations, Translations

from backend.models import registries
from backend.settings import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "backend" / "translations"
LANGUAGES = ("ru", "kk", "en")


def N_(message: str) -> str:
    """Marks a message id for the catalogues; translated where it is shown."""
    return message


ALERT_KINDS = {
    "left_permit_region": N_("Outside the permit region"),
    "left_settlement_region": N_("Left the settlement region"),
    "permit_expired_present": N_("Present after the permit ended"),
    "silent_device": N_("Phone silent"),
    "residence_mismatch": N_("Spends nights away from the registered address"),
    "late_termination_notice": N_("Late notice from the employer"),
    "mock_location": N_("Fake location on the phone"),
    "sos": N_("SOS from the phone"),
}
ALERT_STATUSES = {"open": N_("still open"), "closed": N_("closed")}
CATEGORIES = {
    "citizen": N_("citizen"),
    "resettler": N_("resettler"),
    "kandas": N_("kandas"),
    "labour_immigrant": N_("labour immigrant"),
    "foreign_worker": N_("foreign worker"),
    "temporary_resident": N_("temporary resident"),
    "permanent_resident": N_("permanent resident"),
    "refugee": N_("refugee"),
    "asylum_seeker": N_("asylum seeker"),
    "stateless": N_("stateless person"),
}
CHECK_VERDICTS = {
    "ok": N_("No violation"),
    "violation": N_("Violation"),
    "not_found": N_("Not in the register"),
}
PERMIT_STATUSES = {
    "active": N_("in force"),
    "expired": N_("expired"),
    "terminated": N_("ended by the employer"),
    "revoked": N_("revoked"),
}
ROLES = {
    "admin": N_("administrator"),
    "analyst": N_("analyst"),
    "officer": N_("field officer"),
    "employer": N_("employer"),
    "device": N_("phone"),
    "settlement_official": N_("settlement official"),
}

# Registry → its labels: every code of each registry must have one.
LABELLED: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "ALERT_KINDS": (registries.ALERT_KINDS, ALERT_KINDS),
    "ALERT_STATUSES": (registries.ALERT_STATUSES, ALERT_STATUSES),
    "CATEGORIES": (registries.CATEGORIES, CATEGORIES),
    "CHECK_VERDICTS": (registries.CHECK_VERDICTS, CHECK_VERDICTS),
    "PERMIT_STATUSES": (registries.PERMIT_STATUSES, PERMIT_STATUSES),
    "ROLES": (registries.ROLES, ROLES),
}


@cache
def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English reads the message ids themselves)."""
    return Translations.load(str(TRANSLATIONS), [lang], "messages")


def map_labels() -> dict[str, dict[str, str]]:
    """The words a stored map shows for alert kinds (``kind_*``) and categories
    (``cat_*``), in every language: a map is built once and switches language itself."""
    return {
        lang: {
            **{f"kind_{k}": catalogue(lang).gettext(v) for k, v in ALERT_KINDS.items()},
            **{f"cat_{k}": catalogue(lang).gettext(v) for k, v in CATEGORIES.items()},
        }
        for lang in LANGUAGES
    }
