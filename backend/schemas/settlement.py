"""Schemas of kandas and resettler settlement, zones, maps and indicators."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from marshmallow import ValidationError, validates_schema
from marshmallow.fields import (
    Boolean,
    Date,
    DateTime,
    Dict,
    Float,
    Function,
    Integer,
    List,
    Nested,
    Raw,
)
from marshmallow.validate import Length, OneOf, Range

from backend.models.registries import CATEGORIES, POLICY_SOURCES
from backend.schemas.common import ID, KATO, PERIOD_DAY, TEXT, TWELVE_DIGITS, Str

YEAR = Range(2000, 2100)


class QuotaIn(Schema):
    kandas = Integer(required=True, validate=Range(0, 1_000_000))
    resettlers = Integer(required=True, validate=Range(0, 1_000_000))
    through_year = Integer(
        validate=YEAR,
        metadata={
            "description": "a medium-term quota (seed 004 p. 4): the period's last year, at "
            "most 4 after the first; the limits and the fill count the whole period"
        },
    )


class QuotaPairOut(Schema):
    kandas = Integer()
    resettlers = Integer()


class QuotaOut(Schema):
    """A region's quota (people) per category, shaped from a ``QuotaFill``."""

    year = Integer()
    region_kato = Str()
    from_year = Integer(
        allow_none=True, metadata={"description": "first year of the quota's period"}
    )
    through_year = Integer(
        allow_none=True, metadata={"description": "last year of the quota's period"}
    )
    kandas = Integer(attribute="limits.kandas")
    resettlers = Integer(attribute="limits.resettlers")
    set = Boolean()
    fill = Nested(QuotaPairOut)
    remaining = Nested(QuotaPairOut)


class SettlementListIn(Schema):
    settlements = List(Str(validate=KATO), required=True, validate=Length(max=5000))


class SettlementListOut(Schema):
    year = Integer()
    region_kato = Str()
    settlements = List(Str())
    published_at = DateTime(allow_none=True)
    deadline = Date()
    published_on_time = Boolean()


class SupportIn(Schema):
    housing_subsidy_mrp_per_month = Float(validate=Range(0, 1000), allow_nan=False)
    housing_subsidy_months = Integer(
        validate=Range(1, 60),
        metadata={"description": "months granted, up to housing_subsidy_months in force"},
    )
    housing_cost_kzt = Float(validate=Range(0, 10**10), allow_nan=False)
    job_employer_bin = Str(validate=TWELVE_DIGITS)


class ContractIn(Schema):
    """The social contract signed at admission (seed 003)."""

    number = Str(validate=Length(1, 40))
    signed_on = Date()


class ApplicationIn(Schema):
    person_id = Integer(required=True, validate=ID)
    family_size = Integer(required=True, validate=Range(1, 30))
    settlement_kato = Str(required=True, validate=KATO)
    year = Integer(validate=YEAR)
    support = Nested(SupportIn)
    admitted_on = Date(
        metadata={"description": "the admission day of a record entered late (audited)"}
    )
    contract = Nested(ContractIn)
    housing = Str(validate=TEXT, metadata={"description": "intra-regional: the housing given"})
    job = Str(validate=TEXT, metadata={"description": "intra-regional: the permanent job"})


class SupportItemOut(Schema):
    item = Str()
    amount_mrp = Float(allow_none=True)
    mrp_year = Integer(allow_none=True)
    amount_kzt = Float()
    paid_on = Date()
    details = Dict()


class BreachOut(Schema):
    detected_on = Date(attribute="breach_detected_on")
    evidence = Dict(attribute="breach_evidence", allow_none=True)
    decision = Str(allow_none=True)
    reason = Str(attribute="decision_reason", allow_none=True)
    decided_by = Str(allow_none=True)
    confirmation_by = Str(
        allow_none=True,
        metadata={"description": "the first administrator's confirmation, awaiting a second"},
    )
    confirmation_reason = Str(allow_none=True)


class ContractOut(Schema):
    number = Str(attribute="contract_number", allow_none=True)
    signed_on = Date(attribute="contract_signed_on", allow_none=True)
    terms = Dict(attribute="contract_terms", allow_none=True)
    support_promised = Dict(allow_none=True)


class ClaimOut(Schema):
    status = Str(attribute="claim_status")
    departed_on = Date(allow_none=True)
    evidence = Dict(attribute="breach_evidence", allow_none=True)
    lines = List(Dict(), attribute="claim_lines", allow_none=True)
    amount_kzt = Float(attribute="amount_due_kzt", allow_none=True)
    first_official = Str(attribute="confirmation_by", allow_none=True)
    issued_by = Str(attribute="claim_issued_by", allow_none=True)
    issued_at = DateTime(attribute="claim_issued_at", allow_none=True)


class ObligationOut(Schema):
    """A family's obligation, shaped from an ``ObligationState``."""

    person_id = Integer(attribute="obligation.person_id")
    region_kato = Str(attribute="obligation.region_kato")
    settlement_kato = Str(attribute="obligation.settlement_kato")
    family_size = Integer(attribute="obligation.family_size")
    starts_on = Date(attribute="obligation.starts_on")
    ends_on = Date(attribute="obligation.ends_on")
    status = Str(attribute="obligation.status")
    support = List(Nested(SupportItemOut))
    support_total_kzt = Float()
    amount_due_kzt = Float(attribute="obligation.amount_due_kzt", allow_none=True)
    if_left_today_kzt = Float(allow_none=True)
    breach = Nested(BreachOut, allow_none=True)
    contract = Nested(ContractOut)
    claim = Nested(ClaimOut, allow_none=True)


class DecisionIn(Schema):
    decision = Str(
        required=True,
        validate=OneOf(["issue", "withdraw", "paid", "contested", "confirm", "dismiss"]),
        metadata={"description": "confirm = issue, dismiss = withdraw (first version's words)"},
    )
    reason = Str(required=True, validate=TEXT)


class ClaimDocumentQuery(Schema):
    lang = Str(load_default="ru", validate=OneOf(["ru", "kk"]))


class EligibilityOut(Schema):
    eligible_from = Date(allow_none=True)
    years_counted = Float()
    interruptions = List(Dict())
    rule = Dict()


class ZoneQuery(Schema):
    level = Str(load_default="settlement", validate=OneOf(["region", "district", "settlement"]))
    region_kato = Str(validate=KATO)
    year = Integer(validate=YEAR)
    limit = Integer(load_default=500, validate=Range(1, 10000))


class ZoneOut(Schema):
    rank = Integer()
    kato = Str()
    name = Str()
    score = Float()
    zone = Str()
    caps = List(Str())
    components = Dict()
    region_kato = Function(lambda z: z.extra.get("region_kato"), allow_none=True)


class ZonePage(Schema):
    level = Str()
    year = Integer()
    weights = Dict()
    items = List(Nested(ZoneOut))


class MapJobIn(Schema):
    year = Integer(validate=YEAR)


class JobStartedOut(Schema):
    job_id = Str()
    status_url = Str()


class IndicatorQuery(Schema):
    year = Integer(validate=YEAR)
    region_kato = Str(validate=KATO)


class IndicatorOut(Schema):
    name = Str()
    value = Float(allow_none=True)
    numerator = Integer(allow_none=True)
    denominator = Integer(allow_none=True)
    target = Float(allow_none=True, metadata={"description": "table 1 target of that year"})
    definition = Str()
    source = Str()
    computed = Boolean(metadata={"description": "false: an external source reports it"})
    breakdown = Dict(
        allow_none=True,
        metadata={"description": "per person category: numerator and denominator"},
    )


class IndicatorPage(Schema):
    year = Integer()
    region_kato = Str(allow_none=True)
    items = List(Nested(IndicatorOut))


class PolicyValueOut(Schema):
    effective_from = Date()
    value = Raw(metadata={"description": "number, yes/no, text or list, by the parameter"})
    source = Str(metadata={"description": "seed (a seed document) or assumption"})
    reference = Str(allow_none=True)
    set_by = Str()
    set_at = DateTime()


class PolicyParameterOut(Schema):
    name = Str()
    rule = Str(metadata={"description": "where docs/domain.md states the rule"})
    unit = Str()
    description = Str()
    on = Date(metadata={"description": "the day the value below is in force on"})
    value = Raw(allow_none=True)
    effective_from = Date(allow_none=True)
    source = Str(allow_none=True)
    reference = Str(allow_none=True)
    history = List(Nested(PolicyValueOut), metadata={"description": "every value, oldest first"})


class PolicyItemOut(PolicyParameterOut):
    """A parameter as listed in a page (its own name in the OpenAPI components)."""


class PolicyPage(Schema):
    on = Date()
    items = List(Nested(PolicyItemOut))


class PolicyQuery(Schema):
    on = Date(metadata={"description": "the day (default today)"})


class PolicyIn(Schema):
    value = Raw(required=True, allow_none=False)
    effective_from = Date(required=True, metadata={"description": "the first day it applies"})
    source = Str(load_default="assumption", validate=OneOf(POLICY_SOURCES))
    reference = Str(validate=TEXT, allow_none=True)


class GeneralTermsIn(Schema):
    on = Date(metadata={"description": "the day of the choice (default today)"})


class GeneralTermsOut(Schema):
    person_id = Integer(attribute="id")
    general_terms_on = Date()


SCORE = Range(0, 100)


class PreselectionIn(Schema):
    person_id = Integer(required=True, validate=ID)
    language_score = Float(required=True, validate=SCORE, allow_nan=False)
    questionnaire_score = Float(required=True, validate=SCORE, allow_nan=False)
    interview_score = Float(required=True, validate=SCORE, allow_nan=False)
    checks_passed = Boolean(required=True, metadata={"description": "security checks"})


class PreselectionOut(Schema):
    id = Integer()
    person_id = Integer()
    score = Float()
    threshold = Float()
    decision = Str(metadata={"description": "pass or fail"})
    reasons = List(Str())
    parts = Dict()
    weights = Dict()
    decided_by = Str()
    decided_at = DateTime()


class PreselectionPage(Schema):
    items = List(Nested(PreselectionOut))


class MonitoringMapIn(Schema):
    date_from = Date(
        validate=PERIOD_DAY,
        metadata={"description": "first day of the period (default 30 days ago)"},
    )
    date_to = Date(
        validate=PERIOD_DAY, metadata={"description": "last day of the period (default today)"}
    )
    category = Str(validate=OneOf(CATEGORIES), allow_none=True)
    region_kato = Str(validate=KATO, allow_none=True)

    @validates_schema
    def _period(self, data: dict[str, Any], **_: object) -> None:
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError("must not be after date_to", "date_from")
        if start and end and (end - start).days > 366:
            raise ValidationError("a period covers at most 366 days", "date_from")


class MonitoringPageQuery(MonitoringMapIn):
    lang = Str(validate=OneOf(["ru", "kk", "en"]))
