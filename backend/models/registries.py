"""Every closed set of values the register stores: one definition each.

The database CHECK constraints hold the same sets; ``tests/integration/test_registries.py``
proves that each registry here equals its CHECK, so adding a value in one place and
forgetting the other fails the suite instead of the first insert.
"""

from __future__ import annotations

ROLES = ("admin", "analyst", "officer", "employer", "device")
# Roles a person signs in to with a browser (devices only ever hold tokens).
STAFF_ROLES = ("admin", "analyst", "officer", "employer")
# Roles that must use a second factor (TOTP); optional for the others.
TOTP_REQUIRED_ROLES = ("admin", "analyst")

CATEGORIES = (
    "citizen",
    "resettler",
    "kandas",
    "labour_immigrant",
    "foreign_worker",
    "temporary_resident",
    "permanent_resident",
    "refugee",
    "asylum_seeker",
    "stateless",
)
# Categories whose stay depends on a labour-immigrant or work permit.
PERMIT_CATEGORIES = ("labour_immigrant", "foreign_worker")
# Categories admitted under a settlement quota, with the 5-year obligation.
SETTLER_CATEGORIES = ("kandas", "resettler")
SEXES = ("M", "F")

REGISTRATION_KINDS = ("permanent", "temporary")
PERMIT_STATUSES = ("active", "expired", "terminated", "revoked")
CHECK_VERDICTS = ("ok", "violation", "not_found")

ALERT_KINDS = (
    "left_permit_region",
    "left_settlement_region",
    "permit_expired_present",
    "silent_device",
    "residence_mismatch",
    "late_termination_notice",
    "mock_location",
    "sos",
)
# Alerts officers must see before any other.
URGENT_ALERT_KINDS = ("sos",)
ALERT_STATUSES = ("open", "closed")

OBLIGATION_STATUSES = ("active", "suspected", "breached", "fulfilled")
# Statuses of an obligation still running: one per family at a time.
OPEN_OBLIGATION_STATUSES = ("active", "suspected")
BREACH_DECISIONS = ("confirmed", "dismissed")
SUPPORT_ITEMS = ("relocation", "housing_subsidy", "mobility_certificate")
# Resettlement goes to a designated region from elsewhere, or within one region (rule 2).
DIRECTIONS = ("interregional", "intra_regional")
# An employer is a firm (identified by BIN) or a household, a private person (IIN).
EMPLOYER_KINDS = ("firm", "household")

# Registry -> (table, CHECK constraint) holding the same set in the database.
# Where a policy parameter's value comes from: a seed document, or an assumption from
# public reporting (docs/domain.md: "A rule marked assumption ...").
POLICY_SOURCES = ("seed", "assumption")
# Who notified a foreigner's registration (rule 8): the host, or the person online.
NOTIFIERS = ("host", "self")

# A residence-permit applicant's pre-selection outcome (rule 13).
PRESELECTION_DECISIONS = ("pass", "fail")

DATABASE_CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "ROLES": (ROLES, "api_tokens_role_check"),
    "STAFF_ROLES": (STAFF_ROLES, "users_role_check"),
    "SEXES": (SEXES, "persons_sex_check"),
    "REGISTRATION_KINDS": (REGISTRATION_KINDS, "registrations_kind_check"),
    "PERMIT_STATUSES": (PERMIT_STATUSES, "permits_status_check"),
    "CHECK_VERDICTS": (CHECK_VERDICTS, "officer_checks_verdict_check"),
    "ALERT_KINDS": (ALERT_KINDS, "alerts_kind_check"),
    "ALERT_STATUSES": (ALERT_STATUSES, "alerts_status_check"),
    "SETTLER_CATEGORIES": (SETTLER_CATEGORIES, "settlement_applications_category_check"),
    "OBLIGATION_STATUSES": (OBLIGATION_STATUSES, "settlement_obligations_status_check"),
    "SUPPORT_ITEMS": (SUPPORT_ITEMS, "support_payments_item_check"),
    "EMPLOYER_KINDS": (EMPLOYER_KINDS, "employers_kind_check"),
    "DIRECTIONS": (DIRECTIONS, "settlement_applications_direction_check"),
    "POLICY_SOURCES": (POLICY_SOURCES, "policy_parameters_source_check"),
    "NOTIFIERS": (NOTIFIERS, "registrations_notified_by_check"),
    "PRESELECTION_DECISIONS": (PRESELECTION_DECISIONS, "preselections_decision_check"),
}
