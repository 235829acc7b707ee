"""Admission of kandas and resettler families, and the support paid at admission.

Admission is refused with a reason unless the region is designated (rule 1), the
settlement is on that year's list (rule 3) and the regional quota has room for the whole
family (rule 2). The quota row is locked while an admission counts it, so concurrent
applications can never overfill it. Admission fixes the place of arrival, records the
social contract (seed 003) and the support paid in MRP of the year (rule 5), and starts
the family's 5-year obligation — only where that rule is in force on the admission day
(seed 003: from 2026). Every rule is the one in force on the admission day, which a
record entered late gives as ``admitted_on``.

An intra-regional move (seed 004 p. 2(7), «из сел с низким экономическим потенциалом в
города … при возможности выделения жилища … и трудоустройства») runs from a village of
low economic potential to a town of the same region, with the housing and the job on the
application; anything else within one region is refused with its reason.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import clock
from backend.clock import add_months
from backend.errors import Conflict, Invalid
from backend.models import (
    Employer,
    Person,
    Registration,
    Settlement,
    SettlementApplication,
    SettlementIndicators,
    SettlementListEntry,
    SettlementObligation,
    SupportPayment,
)
from backend.models.registries import OPEN_OBLIGATION_STATUSES, SETTLER_CATEGORIES
from backend.services import policy
from backend.services.settlement.obligations import CENT, mrp_for, pay_due_subsidies
from backend.services.settlement.quotas import QUOTA_COLUMN, lock_quota, quota_fill, region


class Refused(Conflict):
    """An admission refused by a settlement rule; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.code = reason


def _support(
    session: Session, data: dict[str, Any], on: date, family_size: int
) -> list[dict[str, Any]]:
    """Support items paid at admission, in MRP and in tenge, by the amounts in force on the
    admission day (docs/domain.md rule 6)."""
    mrp_year, mrp_kzt = mrp_for(session, on)
    support = data.get("support") or {}
    if support.get("housing_subsidy_mrp_per_month") is not None and (
        support.get("housing_cost_kzt") is not None or support.get("job_employer_bin") is not None
    ):
        # Seed 000: the certificate is given «взамен выдаваемого жилья», not on top of it.
        raise Invalid(
            "support",
            "a mobility certificate replaces the housing subsidy (seed 000): ask for one or "
            "the other",
        )
    items: list[dict[str, Any]] = []
    relocation = policy.number(session, "relocation_mrp_per_member", on) * family_size
    items.append(
        {"item": "relocation", "amount_mrp": relocation, "details": {"family_size": family_size}}
    )
    rate = support.get("housing_subsidy_mrp_per_month")
    if rate is not None:
        # Validated now, paid month by month (obligations.pay_due_subsidies), never up front.
        low = policy.number(session, "housing_subsidy_mrp_min", on)
        high = policy.number(session, "housing_subsidy_mrp_max", on)
        if not low <= Decimal(str(rate)) <= high:
            raise Invalid("support.housing_subsidy_mrp_per_month", f"must be {low:g}-{high:g} MRP")
        most = policy.integer(session, "housing_subsidy_months", on)
        granted = support.get("housing_subsidy_months")
        if granted is None or not 1 <= granted <= most:
            raise Invalid(
                "support.housing_subsidy_months", f"the months granted must be 1-{most} (up to)"
            )
    cost = support.get("housing_cost_kzt")
    employer = support.get("job_employer_bin")
    if cost is not None or employer is not None:
        if cost is None or employer is None:
            raise Invalid(
                "support", "a mobility certificate needs housing_cost_kzt and job_employer_bin"
            )
        if session.get(Employer, employer) is None:
            raise Invalid("support.job_employer_bin", f"employer {employer} is not registered")
        share = policy.number(session, "mobility_certificate_share", on)
        items.append(
            {
                "item": "mobility_certificate",
                "amount_mrp": None,
                "amount_kzt": (Decimal(str(cost)) * share).quantize(CENT),
                "details": {
                    "housing_cost_kzt": cost,
                    "employer_bin": employer,
                    "share": float(share),
                },
            }
        )
    for item in items:
        if item.get("amount_mrp") is not None:
            item["amount_kzt"] = (item["amount_mrp"] * mrp_kzt).quantize(CENT, ROUND_HALF_UP)
            item["mrp_year"] = mrp_year
    return items


def _running_until(session: Session, person_id: int) -> date | None:
    """The end of the family's obligation still running (active or suspected), if any."""
    return session.scalar(
        select(SettlementObligation.ends_on).where(
            SettlementObligation.person_id == person_id,
            SettlementObligation.status.in_(OPEN_OBLIGATION_STATUSES),
        )
    )


def designated(session: Session, settlement: Settlement, on: date) -> bool:
    """Whether the settlement lies in an area designated on ``on`` (rule 1): its whole
    region, or the district it lies in as a designated part of the region."""
    areas = set(policy.katos(session, "designated_areas", on))
    return settlement.region_kato in areas or settlement.district_kato in areas


def _intra_regional(
    session: Session, data: dict[str, Any], origin: Registration | None, settlement: Settlement
) -> None:
    """Refuse a move within one region unless seed 004 p. 2(7) describes it."""
    if origin is not None and origin.settlement_kato == settlement.kato:
        raise Refused(
            "not_intra_regional",
            f"the family already lives in {settlement.name}: a move within one settlement is "
            "no resettlement",
        )
    source = None if origin is None or origin.settlement_kato is None else origin.settlement_kato
    start = None if source is None else session.get(SettlementIndicators, source)
    if start is None or start.is_urban is not False or start.low_potential is not True:
        raise Refused(
            "not_intra_regional",
            "intra-regional resettlement starts in a village of low economic potential "
            "(seed 004 p. 2(7)); the family's place of residence is not one",
        )
    end = session.get(SettlementIndicators, settlement.kato)
    if end is None or end.is_urban is not True:
        raise Refused(
            "not_intra_regional",
            f"intra-regional resettlement goes to a town (seed 004 p. 2(7)); {settlement.name} "
            "is not recorded as one",
        )
    for field in ("housing", "job"):
        if not (data.get(field) or "").strip():
            raise Invalid(field, f"an intra-regional move records the {field} (seed 004 p. 2(7))")


def _contract(
    data: dict[str, Any],
    on: date,
    years: int | None,
    ends_on: date,
    support: list[dict[str, Any]],
    subsidy: dict[str, Any] | None,
) -> dict[str, Any]:
    """The social contract's terms as in force on the admission day, and the support
    promised under it (seed 003: its basis for any repayment)."""
    promised: dict[str, Any] = {
        item["item"]: {"amount_kzt": str(item["amount_kzt"]), **item["details"]} for item in support
    }
    if subsidy is not None:
        promised["housing_subsidy"] = subsidy
    terms = {
        "stay_years": years,
        "stay_until": ends_on.isoformat() if years else None,
        "repayment": "all support received, if the family leaves before the end (seed 003)"
        if years
        else "none: the 5-year stay applies from 2026 (seed 003)",
        "rules_of": on.isoformat(),
    }
    contract = data.get("contract") or {}
    return {
        "signed_on": contract.get("signed_on") or on,
        "number": contract.get("number"),
        "terms": terms,
        "promised": promised,
    }


def admit(session: Session, data: dict[str, Any], on: date | None = None) -> SettlementObligation:
    """Accept a kandas or resettler application within list and quota, or refuse it.

    ``data["admitted_on"]`` (a record entered late) dates the admission and so chooses
    the rules, amounts and obligation in force; it is never in the future.
    """
    late = data.get("admitted_on")
    if late is not None and late > clock.today():
        raise Invalid("admitted_on", f"must not be after today ({clock.today()})")
    on = late or on or clock.today()
    year = data.get("year") or on.year
    person = session.get(Person, data["person_id"])
    if person is None:
        raise Invalid("person_id", f"person {data['person_id']} does not exist")
    if person.category not in SETTLER_CATEGORIES:
        raise Invalid("person_id", f"a {person.category} is not admitted as kandas or resettler")
    if person.general_terms_on is not None:
        raise Refused(
            "general_terms",
            f"the family chose permanent residence on general terms on {person.general_terms_on}:"
            " no quota and no support",
        )
    settlement = session.get(Settlement, data["settlement_kato"])
    if settlement is None:
        raise Invalid("settlement_kato", f"unknown settlement {data['settlement_kato']}")
    place = region(session, settlement.region_kato)
    # The direction (rule 2): within the region the family lives in, or into a designated
    # region from elsewhere (a family with no registration yet comes from elsewhere).
    home = session.scalars(
        select(Registration).where(
            Registration.person_id == person.id,
            Registration.kind == "permanent",
            Registration.ended_on.is_(None),
        )
    ).first()
    origin = None if home is None else home.region_kato
    direction = "intra_regional" if origin == place.kato else "interregional"
    if direction == "interregional" and not designated(session, settlement, on):
        raise Refused(
            "region_not_designated",
            f"{place.name_ru} is not designated on {on} for settlement from other regions",
        )
    if direction == "intra_regional":
        _intra_regional(session, data, home, settlement)
    infrastructure = session.get(SettlementIndicators, settlement.kato)
    if infrastructure is not None and False in (
        infrastructure.has_school,
        infrastructure.has_kindergarten,
        infrastructure.has_clinic,
        infrastructure.has_housing,
        infrastructure.has_utilities,
        infrastructure.has_transport,
    ):
        # Infrastructure first (rule 5, strict); unknown items are not "lacking".
        raise Refused(
            "infrastructure_missing",
            f"{settlement.name} lacks the school, kindergarten, clinic, housing, utilities "
            "or transport that settlement needs",
        )
    if session.get(SettlementListEntry, (year, settlement.kato)) is None:
        raise Refused(
            "settlement_not_listed", f"{settlement.name} is not on the {year} settlement list"
        )
    quota = lock_quota(session, year, place.kato)
    if quota is None:
        raise Refused("quota_not_set", f"no {year} quota is set for {place.name_ru}")
    limit = getattr(quota, QUOTA_COLUMN[person.category])
    # A medium-term quota counts the admissions of its whole period (seed 004 p. 4).
    fill = quota_fill(session, year, place.kato)
    used = fill.fill[QUOTA_COLUMN[person.category]]
    family = data["family_size"]
    if used + family > limit:
        raise Refused(
            "quota_exhausted",
            f"the {fill.period} {person.category} quota of {place.name_ru} has "
            f"{max(limit - used, 0)} places left, the family needs {family}",
        )
    already = session.scalar(
        select(func.count())
        .select_from(SettlementApplication)
        .where(SettlementApplication.person_id == person.id, SettlementApplication.year == year)
    )
    if already:
        raise Conflict(f"person {person.id} was already admitted in {year}")
    running = _running_until(session, person.id)
    if running is not None:
        # One family, one obligation: support is never paid twice (rule 6).
        raise Refused(
            "obligation_active",
            f"the family already has a settlement obligation running until {running}",
        )
    support = _support(session, data, on, family)
    years = policy.optional(session, "obligation_years", on)
    ends_on = add_months(on, 12 * int(years)) if years else on
    asked = data.get("support") or {}
    rate = asked.get("housing_subsidy_mrp_per_month")
    subsidy = (
        None if rate is None else {"mrp_per_month": rate, "months": asked["housing_subsidy_months"]}
    )
    contract = _contract(data, on, years, ends_on, support, subsidy)
    application = SettlementApplication(
        person_id=person.id,
        category=person.category,
        family_size=family,
        year=year,
        region_kato=place.kato,
        settlement_kato=settlement.kato,
        direction=direction,
        origin_region_kato=origin,
        admitted_on=on,
        origin_settlement_kato=None if home is None else home.settlement_kato,
        housing=data.get("housing"),
        job=data.get("job"),
    )
    session.add(application)
    session.flush()
    obligation = SettlementObligation(
        person_id=person.id,
        application_id=application.id,
        region_kato=place.kato,
        settlement_kato=settlement.kato,
        family_size=family,
        starts_on=on,
        ends_on=ends_on,
        # Before the 5-year stay applied, support was given and nothing is owed.
        status="active" if years else "unbound",
        subsidy_mrp_per_month=None if rate is None else Decimal(str(rate)),
        subsidy_months=None if subsidy is None else subsidy["months"],
        contract_signed_on=contract["signed_on"],
        contract_terms=contract["terms"],
        support_promised=contract["promised"],
    )
    session.add(obligation)
    session.flush()
    obligation.contract_number = contract["number"] or f"SC-{on.year}-{obligation.id:06d}"
    for item in support:
        session.add(
            SupportPayment(
                obligation_id=obligation.id,
                person_id=obligation.person_id,
                item=item["item"],
                amount_mrp=item.get("amount_mrp"),
                mrp_year=item.get("mrp_year"),
                amount_kzt=item["amount_kzt"],
                details=item["details"],
                paid_on=on,
            )
        )
    session.flush()
    pay_due_subsidies(session, on, obligation.id)  # the first month, on admission day
    return obligation


def choose_general_terms(session: Session, person_id: int, on: date | None = None) -> Person:
    """A kandas takes permanent residence on general terms (seed 003): no quota, no support,
    no obligation and so no settlement alerts. Refused while an obligation runs."""
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise Invalid("person_id", f"person {person_id} does not exist")
    if person.category != "kandas":
        raise Invalid("person_id", f"a {person.category} has no kandas route to opt out of")
    running = _running_until(session, person.id)
    if running is not None:
        raise Refused(
            "obligation_active",
            f"the family was admitted under the quota; its obligation runs until {running}",
        )
    person.general_terms_on = person.general_terms_on or on or clock.today()
    session.flush()
    return person
