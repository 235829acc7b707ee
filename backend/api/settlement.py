"""Settlement of kandas and resettlers: quotas, lists, admissions, obligations, zones, map."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, render_template, request, send_from_directory
from flask_babel import force_locale
from werkzeug.exceptions import NotFound as HTTPNotFound

from backend import clock
from backend import schemas as s
from backend.api.context import (
    acting_person,
    auth,
    principal,
    purpose,
    record_access,
    transaction,
)
from backend.api.csp import map_response
from backend.api.idempotent import idempotent
from backend.api.jobs import launch
from backend.services import events, policy
from backend.services.monitoring import indicators, maps
from backend.services.settlement import (
    admission,
    claims,
    eligibility,
    obligations,
    preselection,
    quotas,
    zones,
)
from maps.offline import asset_dirs

bp = APIBlueprint("settlement", __name__, url_prefix="/api/v1", tag="Settlement")
pages = APIBlueprint("map_pages", __name__, tag="Settlement")


@bp.put("/quotas/<int:year>/<region_kato>")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.QuotaIn, arg_name="data")
@bp.output(s.QuotaOut)
@bp.doc(
    summary="Set a region's quota of kandas and resettlers (people) for a year, or with "
    "through_year for a medium-term period counted as one (seed 004 p. 4)"
)
def put_quota(year: int, region_kato: str, data: dict[str, Any]) -> Any:
    with transaction() as session:
        view = quotas.set_quota(
            session,
            year,
            region_kato,
            data["kandas"],
            data["resettlers"],
            data.get("through_year"),
        )
        record_access(session, "quota.set", [None], f"{view.period}/{region_kato}")
        return view


@bp.get("/quotas/<int:year>/<region_kato>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.output(s.QuotaOut)
@bp.doc(
    summary="The region's quota in force in the year (its period, if medium-term) with "
    "the fill over that period"
)
def get_quota(year: int, region_kato: str) -> Any:
    with transaction() as session:
        return quotas.quota_fill(session, year, region_kato)


@bp.put("/settlement-lists/<int:year>/<region_kato>")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.SettlementListIn, arg_name="data")
@bp.output(s.SettlementListOut)
@bp.doc(summary="Publish the settlements open for resettlement in the year (due 15 December)")
def put_list(year: int, region_kato: str, data: dict[str, Any]) -> Any:
    with transaction() as session:
        view = quotas.set_settlement_list(session, year, region_kato, data["settlements"])
        record_access(session, "list.set", [None], f"{year}/{region_kato}")
        return view


@bp.get("/settlement-lists/<int:year>/<region_kato>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.output(s.SettlementListOut)
@bp.doc(summary="A region's settlement list for the year")
def get_list(year: int, region_kato: str) -> Any:
    with transaction() as session:
        return quotas.settlement_list(session, year, region_kato)


@bp.post("/kandas/applications")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.ApplicationIn, arg_name="data")
@bp.output(s.ObligationOut, status_code=201)
@bp.doc(
    summary="Admit a kandas or resettler family within list and quota; starts the 5-year stay",
    description="409 with a machine-readable reason in `title` when refused: "
    "region_not_designated, infrastructure_missing, settlement_not_listed, quota_not_set, "
    "quota_exhausted, obligation_active, general_terms, not_intra_regional. The rules are "
    "those in force on `admitted_on` (a record entered late; audited), else today; an "
    "admission before 2026 records support and starts no obligation (`unbound`).",
)
def apply(data: dict[str, Any]) -> Any:
    with transaction() as session:
        obligation = admission.admit(session, data)
        late = data.get("admitted_on")
        note = None if late is None else f"entered late: admitted on {late}"
        record_access(session, "settlement.admit", [obligation.person_id], note)
        return obligations.state(session, obligation)


@bp.post("/kandas/<id:person_id>/general-terms")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.GeneralTermsIn, arg_name="data")
@bp.output(s.GeneralTermsOut)
@bp.doc(
    summary="A kandas chooses permanent residence on general terms: no quota, no support",
    description="No obligation and no settlement alerts follow; a later admission is refused "
    "(409 general_terms). Refused with 409 obligation_active while an obligation runs.",
)
def general_terms(person_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        person = admission.choose_general_terms(session, person_id, data.get("on"))
        record_access(session, "settlement.general_terms", [person_id])
        return person


@bp.get("/kandas/<id:person_id>/obligation")
@bp.auth_required(auth, roles=["admin", "analyst", "settlement_official"])
@bp.output(s.ObligationOut)
@bp.doc(summary="The family's obligation: social contract, support received, and any claim")
def get_obligation(person_id: int) -> Any:
    why = purpose()
    with transaction() as session:
        obligation = obligations.current_obligation(session, person_id)
        record_access(session, "settlement.obligation.read", [person_id], why)
        return obligations.state(session, obligation)


@bp.post("/kandas/<id:person_id>/obligation/decision")
@bp.auth_required(auth, roles=["settlement_official"])
@bp.input(s.DecisionIn, arg_name="data")
@bp.output(s.ObligationOut)
@bp.doc(
    summary="A settlement official moves a repayment claim on, with a reason",
    description="States: suspected → claim_issued → paid | contested | withdrawn. `issue` "
    "takes two different settlement officials: the first is recorded "
    "(`claim.first_official`) and the status stays `suspected`; the second issues the claim "
    "with its lines (support paid up to the departure day). The same official issuing "
    "twice gets 409. Administrators manage accounts; they do not decide claims.",
)
def decide(person_id: int, data: dict[str, Any]) -> Any:
    # Four eyes are two people: the person behind the request, not the credential.
    who = acting_person()
    with transaction() as session:
        obligation = obligations.decide(session, person_id, data["decision"], data["reason"], who)
        events.claim_decided(session, obligation)
        record_access(session, f"settlement.claim.{data['decision']}", [person_id], data["reason"])
        return obligations.state(session, obligation)


@bp.get("/kandas/<id:person_id>/obligation/claim")
@bp.auth_required(auth, roles=["settlement_official", "admin"])
@bp.input(s.ClaimDocumentQuery, location="query", arg_name="query")
@bp.doc(summary="The issued claim as a printable document (HTML), in Russian or Kazakh")
def claim_document(person_id: int, query: dict[str, Any]) -> Any:
    with transaction() as session:
        obligation = obligations.current_obligation(session, person_id)
        claim = claims.document(session, obligation)
        record_access(session, "settlement.claim.print", [person_id], query["lang"])
        with force_locale(query["lang"]):
            html = render_template("web/claim.html", claim=claim, lang=query["lang"])
    return Response(html, mimetype="text/html")


@bp.get("/kandas/<id:person_id>/eligibility")
@bp.auth_required(auth, roles=["admin", "analyst", "settlement_official"])
@bp.output(s.EligibilityOut)
@bp.doc(
    summary="Rule 12: from when permanent residence in the settlement region makes the "
    "family eligible for residence or citizenship",
)
def get_eligibility(person_id: int) -> Any:
    why = purpose()
    with transaction() as session:
        found = eligibility.eligibility(session, person_id)
        record_access(session, "settlement.eligibility.read", [person_id], why)
        return found


@bp.get("/zones")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.input(s.ZoneQuery, location="query", arg_name="query")
@bp.output(s.ZonePage)
@bp.doc(summary="Ranked regions, districts or settlements with score, zone and components")
def get_zones(query: dict[str, Any]) -> Any:
    year = query.get("year") or clock.today().year
    with transaction() as session:
        ranked = zones.zones(session, query["level"], year, query.get("region_kato"))
        weights = policy.value(session, "zone_weights", policy.day_for_year(year))
    return {
        "level": query["level"],
        "year": year,
        "weights": weights,
        "items": ranked[: query["limit"]],
    }


@bp.get("/indicators")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.input(s.IndicatorQuery, location="query", arg_name="query")
@bp.output(s.IndicatorPage)
@bp.doc(summary="Indicators with value, numerator, denominator, target and definition")
def get_indicators(query: dict[str, Any]) -> Any:
    year = query.get("year") or clock.today().year
    with transaction() as session:
        items = indicators.indicators(session, year, query.get("region_kato"))
    return {"year": year, "region_kato": query.get("region_kato"), "items": items}


@bp.post("/maps/kandas-settlement")
@bp.auth_required(auth, roles=["analyst", "admin"])
@bp.input(s.MapJobIn, arg_name="data")
@bp.output(s.JobStartedOut, status_code=202)
@bp.doc(summary="Build the interactive kandas settlement map in the background")
def start_map(data: dict[str, Any]) -> Any:
    year = data.get("year")
    return launch(
        "map.kandas-settlement",
        "backend.jobs.maps.build_kandas_map",
        year,
        params={"year": year},
    )


@pages.get("/maps/kandas-settlement")
@pages.auth_required(auth, roles=["analyst", "admin"])
@pages.doc(summary="The latest interactive kandas settlement map (HTML, works offline)")
def map_page() -> Any:
    with transaction() as session:
        html = maps.latest(session).html
    return map_response(
        html,
        "gzip" in request.headers.get("Accept-Encoding", ""),
        current_app.extensions["qonys.settings"].map_tiles_url,
    )


@pages.get("/static/maps/<package>/<path:filename>")
@pages.doc(hide=True)
def map_assets(package: str, filename: str) -> Any:
    folder = asset_dirs().get(package)
    if folder is None:
        raise HTTPNotFound()
    return send_from_directory(folder, filename, max_age=86400)


# Residence-permit pre-selection of kandas (seed 003).
@bp.post("/preselection")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.PreselectionIn, arg_name="data")
@bp.output(s.PreselectionOut, status_code=201)
@bp.doc(
    summary="Score a residence-permit applicant and store the decision with its reasons",
    description="Weighted score of the state-language test, questionnaire and interview "
    "(each 0-100) by the policy parameters `preselection_weights` and "
    "`preselection_threshold` in force today; failing the security checks refuses "
    "whatever the score. Reasons: `security_checks_failed`, `score_below_threshold`, "
    "`score_at_or_above_threshold`.",
)
def post_preselection(data: dict[str, Any]) -> Any:
    who = principal()
    with transaction() as session:
        row = preselection.decide(session, data, who.actor)
        record_access(session, "preselection.decide", [row.person_id], row.decision)
        return row


@bp.get("/preselection/<id:person_id>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.output(s.PreselectionPage)
@bp.doc(summary="An applicant's pre-selection decisions, newest first (with X-Purpose)")
def get_preselection(person_id: int) -> Any:
    why = purpose()
    with transaction() as session:
        items = preselection.latest(session, person_id)
        record_access(session, "preselection.read", [person_id], why)
        return {"items": items}
