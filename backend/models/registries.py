"""Every closed set of values the register stores: one definition each.

The database CHECK constraints hold the same sets; ``tests/integration/test_registries.py``
proves that each registry here equals its CHECK, so adding a value in one place and
forgetting the other fails the suite instead of the first insert.
"""

from __future__ import annotations

# ``settlement_official``: an official authorised to issue a repayment claim under a
# family's social contract (seed 003); administrators manage accounts, not claims.
ROLES = ("admin", "analyst", "officer", "employer", "device", "settlement_official")
# Roles a person signs in to with a browser (devices only ever hold tokens).
STAFF_ROLES = ("admin", "analyst", "officer", "employer", "settlement_official")
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

# ``unbound``: admitted before the 5-year stay applied (seed 003: from 2026); the support
# is recorded, nothing is ever owed.
OBLIGATION_STATUSES = ("active", "suspected", "breached", "fulfilled", "unbound")
# Statuses of an obligation still running: one per family at a time.
OPEN_OBLIGATION_STATUSES = ("active", "suspected")
# A repayment claim under the social contract: suspected on evidence of a departure,
# issued by two settlement officials, then paid, contested or withdrawn.
CLAIM_STATUSES = ("suspected", "claim_issued", "paid", "contested", "withdrawn")
SUPPORT_ITEMS = ("relocation", "housing_subsidy", "mobility_certificate")
# Resettlement goes to a designated region from elsewhere, or within one region (rule 2).
DIRECTIONS = ("interregional", "intra_regional")
# An employer is a firm (identified by BIN) or a household, a private person (IIN).
EMPLOYER_KINDS = ("firm", "household")

# Registry -> (table, CHECK constraint) holding the same set in the database.
# Where a policy parameter's value comes from: a seed document and point, an act outside
# the seeds (cited: the MRP of each year's budget law), or an assumption of ours with its
# reason (docs/domain.md: "A rule marked assumption ...").
POLICY_SOURCES = ("seed", "statute", "assumption")
# Who notified a foreigner's registration (rule 8): the host, or the person online.
NOTIFIERS = ("host", "self")

# A residence-permit applicant's pre-selection outcome (rule 13).
PRESELECTION_DECISIONS = ("pass", "fail")

# A likely duplicate's review (issue 22): open, decided the same person (merged) or two
# people, or a merge an admin undid.
DUPLICATE_STATUSES = ("open", "same", "different", "undone")
DUPLICATE_DECISIONS = ("same", "different")
# The outbox (issue 26): channels, a message's states, and who chooses what.
OUTBOX_CHANNELS = ("email", "sms", "webhook", "push")
OUTBOX_STATUSES = ("pending", "delivered", "dead", "cancelled")
LANGUAGES = ("ru", "kk", "en")
ALERT_DELIVERIES = ("immediately", "hourly", "never")
REPORT_SCHEDULES = ("weekly", "monthly")
CONTACT_RELATIONS = ("self", "host")
# What other systems may subscribe to (``alert.*`` carry the alert's kind in the payload).
WEBHOOK_EVENTS = (
    "person.registered",
    "registration.recorded",
    "permit.issued",
    "permit.terminated",
    "permit.expired",
    "alert.opened",
    "alert.closed",
    "obligation.suspected",
    "claim.issued",
    "duplicate.merged",
)

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
    "CLAIM_STATUSES": (CLAIM_STATUSES, "settlement_obligations_claim_status_check"),
    "SUPPORT_ITEMS": (SUPPORT_ITEMS, "support_payments_item_check"),
    "EMPLOYER_KINDS": (EMPLOYER_KINDS, "employers_kind_check"),
    "DIRECTIONS": (DIRECTIONS, "settlement_applications_direction_check"),
    "POLICY_SOURCES": (POLICY_SOURCES, "policy_parameters_source_check"),
    "NOTIFIERS": (NOTIFIERS, "registrations_notified_by_check"),
    "PRESELECTION_DECISIONS": (PRESELECTION_DECISIONS, "preselections_decision_check"),
    "DUPLICATE_STATUSES": (DUPLICATE_STATUSES, "duplicate_reviews_status_check"),
    "OUTBOX_CHANNELS": (OUTBOX_CHANNELS, "outbox_channel_check"),
    "OUTBOX_STATUSES": (OUTBOX_STATUSES, "outbox_status_check"),
    "ALERT_DELIVERIES": (ALERT_DELIVERIES, "users_alert_delivery_check"),
    "REPORT_SCHEDULES": (REPORT_SCHEDULES, "users_report_schedule_check"),
    "CONTACT_RELATIONS": (CONTACT_RELATIONS, "person_contacts_relation_check"),
}
