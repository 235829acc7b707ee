"""The API against its own OpenAPI document, fuzzed (schemathesis, fixed seed, bounded).

Every operation gets generated requests, as an administrator with a purpose: every answer
must be no server error, a documented status and content type, headers and body as the
document says, unauthenticated calls refused, and schema-invalid input refused. The
phone protocols are left out: they take any body and never answer 4xx to a known phone
(API.md), which a schema cannot say.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings

EXAMPLES = 12


@pytest.fixture
def fuzz_schema(app: Any) -> Any:
    return schemathesis.from_wsgi("/api/v1/openapi.json", app).exclude(
        path_regex=r"/traces/(osmand|owntracks)"
    )


schema = schemathesis.from_pytest_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(case: Any, admin: Any) -> None:
    case.call_and_validate(
        headers={**admin, "X-Purpose": "contract-fuzz"},
        checks=schemathesis.checks.ALL_CHECKS,
    )


ROLE_EXAMPLES = 4


@schema.parametrize()
@settings(
    max_examples=ROLE_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract_for_the_other_roles(case: Any, token: Any) -> None:
    """The same contract for an analyst, a region-bound officer and an employer: their
    refusals (403, 404 out of scope) are documented problems too, never a server error."""
    for role, scope in (
        ("analyst", {}),
        ("officer", {"region_kato": "710000000"}),
        ("employer", {"employer_bin": "220340001112"}),
    ):
        case.call_and_validate(
            headers={**token(role, **scope), "X-Purpose": "contract-fuzz"},
            checks=schemathesis.checks.ALL_CHECKS,
        )


SECOND_SEED = 42
ROLES: tuple[tuple[str, dict[str, str]], ...] = (
    ("admin", {}),
    ("analyst", {}),
    ("officer", {"region_kato": "710000000"}),
    ("employer", {"employer_bin": "220340001112"}),
)


@schema.parametrize()
@seed(SECOND_SEED)
@settings(
    max_examples=ROLE_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract_with_a_second_seed(case: Any, token: Any) -> None:
    """Another fixed seed (the tests above derive theirs from their names), every role:
    other generated inputs, still never a server error (issue 28: any 5xx fails)."""
    for role, scope in ROLES:
        case.call_and_validate(
            headers={**token(role, **scope), "X-Purpose": "contract-fuzz"},
            checks=schemathesis.checks.ALL_CHECKS,
        )


STATEFUL_EXAMPLES = 40
STATEFUL_STEPS = 6


def test_sequences_that_follow_the_documents_links_keep_the_contract(app: Any, admin: Any) -> None:
    """Stateful: create a person, a permit, a device, an employer, a job, then follow the
    OpenAPI links the document declares to what was created (fixed seed, bounded)."""
    stateful = schemathesis.from_wsgi("/api/v1/openapi.json", app).exclude(
        path_regex=r"/traces/(osmand|owntracks)"
    )
    headers = {**admin, "X-Purpose": "contract-fuzz"}
    answered: list[tuple[str, int]] = []

    class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # On the case itself, so that the checks that resend it without credentials
            # really send none.
            case.headers = {**(case.headers or {}), **headers}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = ()) -> None:
            case.validate_response(response, checks=schemathesis.checks.ALL_CHECKS)

        def after_call(self, response: Any, case: Any) -> None:
            answered.append((case.operation.verbose_name, response.status_code))

    rules = Workflow.format_rules()
    # The document's links are followed: persons to their pages, permits to their
    # changes, devices to their refusals, jobs to their status.
    for link in ("persons/{person_id}", "permits/{permit_id}/extensions", "jobs/{job_id}"):
        assert link in rules, rules
    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # Links were followed to what was really created, not only to made-up ids.
    followed = {op for op, status in answered if "{" in op and 200 <= status < 300}
    print(f"stateful: {len(answered)} calls; links followed to {sorted(followed)}")
    assert followed, answered
