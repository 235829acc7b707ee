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
from hypothesis import HealthCheck, settings

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
