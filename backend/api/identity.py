"""Who is who: candidates for a person, MRZ intake, the duplicate review queue and merges."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from marshmallow.fields import DateTime, Float, Integer, List, Nested
from marshmallow.validate import Length, OneOf, Range

from backend import schemas as s
from backend.api.context import auth, principal, purpose, record_access, transaction
from backend.errors import Invalid
from backend.models.registries import DUPLICATE_DECISIONS, DUPLICATE_STATUSES
from backend.schemas.common import TEXT, Str
from backend.services import events
from backend.services.identity import duplicates, matching
from backend.services.identity.mrz_intake import read_mrz
from backend.services.register import persons

bp = APIBlueprint("identity", __name__, url_prefix="/api/v1", tag="Registry")


class ReviewQuery(Schema):
    status = Str(load_default="open", validate=OneOf(DUPLICATE_STATUSES))
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = Str(validate=Length(max=100))


class ReviewOut(Schema):
    id = Integer()
    person_id = Integer()
    candidate_id = Integer()
    score = Float()
    reasons = List(Str())
    status = Str()
    decided_by = Str(allow_none=True)
    reason = Str(allow_none=True)
    decided_at = DateTime(allow_none=True)
    created_at = DateTime()


class ReviewPage(Schema):
    items = List(Nested(ReviewOut))
    next_cursor = Str(allow_none=True)


class DecisionIn(Schema):
    decision = Str(required=True, validate=OneOf(DUPLICATE_DECISIONS))
    reason = Str(required=True, validate=TEXT)


class MergeOut(Schema):
    id = Integer()
    survivor_id = Integer()
    merged_id = Integer()
    merged_at = DateTime()
    undone_at = DateTime(allow_none=True)


class DecisionOut(Schema):
    review = Nested(ReviewOut)
    merge = Nested(MergeOut, allow_none=True)


@bp.post("/persons/matches")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.input(s.MatchIn, arg_name="data")
@bp.output(s.MatchOut)
@bp.doc(
    summary="Who in the register may be this person: candidates scored 0-1 with reasons",
    description="Names are compared across Cyrillic and Latin (ICAO 9303, Kazakh Latin "
    "2021, BGN/PCGN and neighbours' romanizations), birth dates exactly, with day and month "
    "swapped or within a window, documents after normalisation. The rules are "
    "backend/services/identity/identity_rules.py. Sends X-Purpose; audited, a row per candidate.",
)
def match_person(data: dict[str, Any]) -> Any:
    why = purpose(required_for=("analyst", "admin"))
    body = persons.with_mrz(data)
    if not body.get("birth_date"):
        raise Invalid("birth_date", "is required (or an mrz)")
    with transaction() as session:
        found = matching.candidates(session, body)
        record_access(session, "person.match", [c.person_id for c in found] or [None], why)
        return {"items": found}


@bp.post("/documents/mrz")
@bp.auth_required(auth, roles=["admin", "analyst", "officer"])
@bp.input(s.MrzIn, arg_name="data")
@bp.output(s.MrzOut)
@bp.doc(
    summary="Read a passport's (TD3) or ID card's (TD1) MRZ, every check digit verified",
    description="A wrong check digit is a 422 naming the line and position.",
)
def read_document_mrz(data: dict[str, Any]) -> Any:
    return read_mrz(data["mrz"])


@bp.get("/duplicates")
@bp.auth_required(auth, roles=["admin"])
@bp.input(ReviewQuery, location="query", arg_name="query")
@bp.output(ReviewPage)
@bp.doc(summary="The duplicate review queue (likely duplicates found where persons enter)")
def list_duplicates(query: dict[str, Any]) -> Any:
    with transaction() as session:
        items, cursor = duplicates.list_reviews(
            session, query["status"], query["limit"], query.get("cursor")
        )
        subjects = sorted({p for r in items for p in (r.person_id, r.candidate_id)})
        record_access(session, "duplicates.list", subjects or [None])
        return {"items": items, "next_cursor": cursor}


@bp.post("/duplicates/<id:review_id>/decision")
@bp.auth_required(auth, roles=["admin"])
@bp.input(DecisionIn, arg_name="data")
@bp.output(DecisionOut)
@bp.doc(
    summary="Decide a likely duplicate: `same` merges into the survivor, `different` is kept",
    description="The survivor is the one with a real IIN, else the older record; every row "
    "of the other moves to it in one transaction. The merged id keeps answering with the "
    "survivor and `merged_into`. An admin can undo a merge within the retention period.",
)
def decide_duplicate(review_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        review, merge = duplicates.decide(
            session, review_id, data["decision"], data["reason"], principal().actor
        )
        if merge is not None:
            events.duplicate_merged(session, merge)
        action = "person.merge" if merge else "duplicate.different"
        record_access(session, action, [review.person_id, review.candidate_id], data["reason"])
        return {"review": review, "merge": merge}


@bp.post("/merges/<id:merge_id>/undo")
@bp.auth_required(auth, roles=["admin"])
@bp.output(MergeOut)
@bp.doc(summary="Undo a merge within the retention period: every moved row goes back")
def undo_merge(merge_id: int) -> Any:
    with transaction() as session:
        merge = duplicates.undo_merge(session, merge_id)
        record_access(session, "person.merge_undo", [merge.survivor_id, merge.merged_id])
        return merge
