"""Policy parameters: legal numbers as data with the day each value takes effect.

Every computation asks for the value in force on the day it concerns — the admission
day for support amounts, a permit's first day for its validity bounds, the end of the
indicator's year for its target — so a change announced for next year leaves today's
figures alone, and a figure for a past day uses the value then in force (docs/domain.md: "Legal
numbers change by year"). Each value says where it comes from: a seed document and point
(``seed``), an act outside the seeds that it cites (``statute``: the MRP of each year's
budget law) or our own reasoned ``assumption``. The values themselves live in
``policy_parameters``; this module only knows their names, kinds and meaning.

A *yearly* parameter (the MRP, the table-1 targets) holds only in the year its value was
set for: a computation for a year with no value refuses with :class:`MissingValue`
naming the parameter and the day, never reusing last year's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.identifiers import ascii_digits
from backend.models import PolicyParameter
from backend.models.registries import POLICY_SOURCES
from gis.zones import COMPONENTS, ZoneRules

log = logging.getLogger(__name__)

# The scored parts of a residence-permit pre-selection (seed 003); the security checks are
# not scored: failing them refuses whatever the score.
PRESELECTION_PARTS = ("language", "questionnaire", "interview")


def _kato_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        return "must be a list of 9-digit KATO codes"
    bad = [k for k in value if len(k) != 9 or not ascii_digits(k)]
    return f"{bad[0]!r} is not a 9-digit KATO code" if bad else None


def _weights(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != set(COMPONENTS):
        return f"must weigh exactly {', '.join(COMPONENTS)}"
    if not all(_is_number(w) and 0 <= w <= 1 for w in value.values()):
        return "each weight must be a number 0-1"
    if abs(sum(value.values()) - 1.0) > 1e-6:
        return "the weights must sum to 1"
    return None


def _preselection_weights(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != set(PRESELECTION_PARTS):
        return f"must weigh exactly {', '.join(PRESELECTION_PARTS)}"
    if not all(_is_number(w) and 0 <= w <= 1 for w in value.values()):
        return "each weight must be a number 0-1"
    if abs(sum(value.values()) - 1.0) > 1e-6:
        return "the weights must sum to 1"
    return None


def _month_day(value: Any) -> str | None:
    try:
        month, day = (int(part) for part in str(value).split("-"))
        date(2001, month, day)
    except ValueError:
        return "must be a month-day such as 12-15"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _range(low: float | None, high: float | None, integer: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> str | None:
        if not _is_number(value) or (integer and int(value) != value):
            return "must be an integer" if integer else "must be a number"
        if (low is not None and value < low) or (high is not None and value > high):
            return f"must be {low if low is not None else '…'}-{high if high is not None else '…'}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


class MissingValue(Conflict):
    """A computation needs a parameter that has no value in force on its day."""

    code = "policy_value_missing"

    def __init__(self, name: str, day: date) -> None:
        super().__init__(
            f"no value of policy parameter {name} is in force on {day}: "
            f"set it with `qonys policy set {name} VALUE --from ...` citing its source"
        )
        self.name = name
        self.day = day


class NotInForce(Conflict):
    """The rule a request asks for applies only from a later day (seed 003: 2026)."""

    code = "rule_not_in_force"


@dataclass(frozen=True)
class Parameter:
    name: str
    rule: str  # where docs/domain.md states it
    unit: str
    description: str
    check: Callable[[Any], str | None]
    yearly: bool = False  # a value holds only in the calendar year it was set for


def _p(
    name: str,
    rule: str,
    unit: str,
    description: str,
    check: Callable[[Any], Any],
    yearly: bool = False,
) -> Parameter:
    return Parameter(name, rule, unit, description, check, yearly)


SHARE = _range(0, 1)
DAYS = _range(0, 366, integer=True)
TARGET = _range(None, None)
PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        _p(
            "mrp",
            "rules 6, 9",
            "KZT",
            "Monthly calculation index (МРП) of the year, set by that year's budget law.",
            _range(1, None),
            yearly=True,
        ),
        _p(
            "designated_areas",
            "rule 1",
            "KATO list",
            "Regions, or districts as parts of regions, designated for interregional "
            "resettlement with state support.",
            _kato_list,
        ),
        _p(
            "obligation_years", "rule 6", "years", "Stay owed after admission.", _range(0, 20, True)
        ),
        _p(
            "obligation_applies_to_resettlers",
            "rule 6",
            "yes/no",
            "Whether resettlers, like kandas, owe the stay and repay support on leaving.",
            _boolean,
        ),
        _p(
            "relocation_mrp_per_member",
            "rule 6",
            "MRP",
            "Relocation support per family member, paid once at admission.",
            _range(0, 1000),
        ),
        _p(
            "housing_subsidy_mrp_min",
            "rule 6",
            "MRP/month",
            "Lowest monthly housing subsidy.",
            _range(0, 1000),
        ),
        _p(
            "housing_subsidy_mrp_max",
            "rule 6",
            "MRP/month",
            "Highest monthly housing subsidy.",
            _range(0, 1000),
        ),
        _p(
            "housing_subsidy_months",
            "rule 6",
            "months",
            "Most months a housing subsidy may be granted for («до»); the months granted "
            "are recorded on the admission.",
            _range(0, 60, True),
        ),
        _p(
            "mobility_certificate_share",
            "rule 6",
            "share",
            "Mobility certificate as a share of the housing cost, with a confirmed job, "
            "instead of the housing subsidy (seed 000 «взамен выдаваемого жилья»).",
            SHARE,
        ),
        _p(
            "list_deadline",
            "rule 4",
            "month-day",
            "Day of the year before by which a region publishes next year's settlement list.",
            _month_day,
        ),
        _p("permit_min_months", "rule 9", "months", "Shortest permit.", _range(1, 120, True)),
        _p("permit_max_months", "rule 9", "months", "Longest permit.", _range(1, 120, True)),
        _p(
            "termination_notice_days",
            "rule 10",
            "calendar days",
            "Days after the last working day within which the employer notifies.",
            DAYS,
        ),
        _p(
            "registration_host_working_days",
            "rule 8",
            "working days",
            "Working days after a foreigner's arrival within which the host notifies.",
            DAYS,
        ),
        _p(
            "registration_self_days",
            "rule 8",
            "calendar days",
            "Days after arrival within which a visa-free immigrant registers online.",
            DAYS,
        ),
        _p(
            "silent_device_working_days",
            "rule 11",
            "working days",
            "Working days without a location before a device counts as silent.",
            _range(1, 60, True),
        ),
        _p(
            "left_region_dwell_hours",
            "rule 11",
            "hours",
            "Hours a settler's phone must stay outside the settlement region (and outside any "
            "temporary registration in force) before left_settlement_region opens.",
            _range(1, 24 * 30, True),
        ),
        _p(
            "eligibility_residence_years",
            "rule 12",
            "years",
            "Years of uninterrupted permanent residence in the settlement region before "
            "residence or citizenship eligibility (seed 000; no number in the seeds).",
            _range(0, 30, True),
        ),
        _p("zone_weights", "zones", "weights", "Weights of the zone score components.", _weights),
        _p("zone_a_min", "zones", "score", "Lowest score of zone A.", _range(0, 100)),
        _p("zone_b_min", "zones", "score", "Lowest score of zone B.", _range(0, 100)),
        _p(
            "zone_labour_demand_full",
            "zones",
            "vacancies per job seeker",
            "Labour demand that scores 100 %.",
            _range(0.01, None),
        ),
        _p(
            "zone_population_trend_span",
            "zones",
            "% a year",
            "Population trend mapped onto 0-100 % (± this much).",
            _range(0.01, None),
        ),
        _p(
            "north_east_regions",
            "rule 7",
            "KATO list",
            "Northern and eastern regions of the internal-mobility indicator.",
            _kato_list,
        ),
        _p(
            "coverage_reported_within_days",
            "rule 7",
            "days",
            "A phone counts for monitoring coverage when it reported within this many days.",
            _range(1, 366, integer=True),
        ),
        _p(
            "retention_macroregion",
            "rule 7",
            "KATO list",
            "The northern and centre-east macroregion where retention is counted.",
            _kato_list,
        ),
        _p(
            "target_retention_3y",
            "rule 7",
            "share",
            "Expected share living 3+ years in the macroregion.",
            SHARE,
        ),
        _p(
            "preselection_weights",
            "rule 13",
            "weights",
            "Weights of the scored pre-selection parts (state language, questionnaire, interview).",
            _preselection_weights,
        ),
        _p(
            "preselection_threshold",
            "rule 13",
            "score 0-100",
            "Lowest weighted score that passes pre-selection.",
            _range(0, 100),
        ),
        _p(
            "target_external_migration_balance",
            "rule 7",
            "thousand people",
            "Table 1 no. 1.",
            TARGET,
            yearly=True,
        ),
        _p(
            "target_qualified_arrivals_share",
            "rule 7",
            "share",
            "Table 1 no. 2.",
            SHARE,
            yearly=True,
        ),
        _p(
            "target_internal_mobility_share",
            "rule 7",
            "share",
            "Table 1 no. 3.",
            SHARE,
            yearly=True,
        ),
        _p(
            "target_kazakh_card_holders",
            "rule 7",
            "people",
            "Table 1 no. 4.",
            _range(0, None),
            yearly=True,
        ),
        _p(
            "target_foreign_students_share", "rule 7", "share", "Table 1 no. 5.", SHARE, yearly=True
        ),
        _p(
            "target_investment_visas",
            "rule 7",
            "people",
            "Table 1 no. 6.",
            _range(0, None),
            yearly=True,
        ),
        _p("target_monitoring_coverage", "rule 7", "share", "Table 1 no. 7.", SHARE, yearly=True),
    )
}
# Parameters whose values must keep an order with another one in force the same day.
ORDERED = (
    ("permit_min_months", "permit_max_months"),
    ("housing_subsidy_mrp_min", "housing_subsidy_mrp_max"),
    ("zone_b_min", "zone_a_min"),
)


def record_gap(session: Session, missing: MissingValue, job: str) -> None:
    """A daily job could not compute for want of a value: an alert for administrators
    (``qonys policy show`` lists the open ones; setting the value resolves them)."""
    session.execute(
        text(
            """
            INSERT INTO policy_gaps (name, day, job) VALUES (:n, :d, :j)
            ON CONFLICT (name, day, job) DO UPDATE SET last_seen = now(), resolved_at = NULL
            """
        ),
        {"n": missing.name, "d": missing.day, "j": job},
    )
    log.error("policy value missing: %s on %s (job %s)", missing.name, missing.day, job)


def open_gaps(session: Session) -> list[Any]:
    """The admin alerts still open: parameters some computation lacked, and for which day."""
    return list(
        session.execute(
            text(
                """
                SELECT g.name, g.day, g.job, g.first_seen, g.last_seen FROM policy_gaps g
                WHERE g.resolved_at IS NULL ORDER BY g.first_seen
                """
            )
        )
    )


def spec(name: str) -> Parameter:
    found = PARAMETERS.get(name)
    if found is None:
        raise NotFound(f"no policy parameter named {name}")
    return found


def day_for_year(year: int) -> date:
    """The day whose values govern a computation for a whole year: today in the current
    year, else the year's first day (a year being planned uses what takes effect then)."""
    today = clock.today()
    return today if year == today.year else date(year, 1, 1)


def in_force(session: Session, name: str, day: date | None = None) -> PolicyParameter | None:
    """The row of ``name`` in force on ``day`` (today when not given), if any; a yearly
    parameter's row only within the year it was set for."""
    on = day or clock.today()
    query = select(PolicyParameter).where(
        PolicyParameter.name == name, PolicyParameter.effective_from <= on
    )
    known = PARAMETERS.get(name)
    if known is not None and known.yearly:
        query = query.where(PolicyParameter.effective_from >= date(on.year, 1, 1))
    return session.scalars(query.order_by(PolicyParameter.effective_from.desc()).limit(1)).first()


def value(session: Session, name: str, day: date | None = None) -> Any:
    """The value in force on ``day``; none in force refuses with :class:`MissingValue`."""
    row = in_force(session, name, day)
    if row is None:
        raise MissingValue(name, day or clock.today())
    return row.value


def number(session: Session, name: str, day: date | None = None) -> Decimal:
    return Decimal(str(value(session, name, day)))


def integer(session: Session, name: str, day: date | None = None) -> int:
    return int(value(session, name, day))


def katos(session: Session, name: str, day: date | None = None) -> list[str]:
    return list(value(session, name, day))


def optional(session: Session, name: str, day: date | None = None) -> Any | None:
    """The value in force on ``day``, or None when the rule is not (yet) in force."""
    row = in_force(session, name, day)
    return None if row is None else row.value


def zone_rules(session: Session, day: date | None = None) -> ZoneRules:
    weights = value(session, "zone_weights", day)
    return ZoneRules(
        weights=tuple((name, float(weights[name])) for name in COMPONENTS),
        a_min=float(value(session, "zone_a_min", day)),
        b_min=float(value(session, "zone_b_min", day)),
        labour_demand_full=float(value(session, "zone_labour_demand_full", day)),
        population_trend_span=float(value(session, "zone_population_trend_span", day)),
    )


def history(session: Session, name: str) -> list[PolicyParameter]:
    spec(name)
    return list(
        session.scalars(
            select(PolicyParameter)
            .where(PolicyParameter.name == name)
            .order_by(PolicyParameter.effective_from)
        )
    )


def parse(name: str, raw: str) -> Any:
    """A value typed on a command line: JSON, or a comma-separated list of KATO codes."""
    try:
        return json.loads(raw)
    except ValueError:
        if spec(name).check is _kato_list:
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


def set_value(
    session: Session,
    name: str,
    new: Any,
    effective_from: date,
    source: str,
    reference: str | None,
    actor: str,
) -> tuple[PolicyParameter, Any | None]:
    """Record ``new`` as in force from ``effective_from``; returns the row and the value it
    replaced on that same day, if one was recorded for it."""
    parameter = spec(name)
    if source not in POLICY_SOURCES:
        raise Invalid("source", f"must be one of {', '.join(POLICY_SOURCES)}")
    if source in ("seed", "statute") and not (reference or "").strip():
        raise Invalid(
            "reference", f"a {source} value cites its source (document and point, or the act)"
        )
    problem = parameter.check(new)
    if problem:
        raise Invalid("value", f"{name} {problem}")
    for low, high in ORDERED:
        if name in (low, high):
            other = high if name == low else low
            paired = optional(session, other, effective_from)
            if paired is None:
                continue
            smaller, larger = (new, paired) if name == low else (paired, new)
            if smaller > larger:
                raise Invalid("value", f"{low} must not exceed {high} ({smaller} > {larger})")
    row = session.get(PolicyParameter, (name, effective_from), with_for_update=True)
    before = None if row is None else row.value
    if row is None:
        row = PolicyParameter(name=name, effective_from=effective_from)
        session.add(row)
    row.value = new
    row.source = source
    row.reference = reference
    row.set_by = actor
    row.set_at = clock.now()
    session.flush()
    # A value now in force for a day a job lacked closes that admin alert.
    session.execute(
        text(
            "UPDATE policy_gaps SET resolved_at = now() WHERE name = :n AND resolved_at IS NULL"
            " AND day >= :d AND (NOT :yearly OR extract(year FROM day) = :y)"
        ),
        {"n": name, "d": effective_from, "yearly": parameter.yearly, "y": effective_from.year},
    )
    return row, before


def change_note(row: PolicyParameter, before: Any | None) -> str:
    """What the audit log says of a change: the value, from when, replacing what."""
    replaced = "" if before is None else f", replacing {json.dumps(before)}"
    return (
        f"{row.name} = {json.dumps(row.value)} from {row.effective_from} "
        f"({row.source}{'; ' + row.reference if row.reference else ''}){replaced}"
    )
