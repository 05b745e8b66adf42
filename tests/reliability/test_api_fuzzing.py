"""Schema-driven fuzzing (schemathesis) of every operation in the app's own OpenAPI document.

Hypothesis generates valid and invalid requests from the schema (examples,
boundary "coverage" cases, then random ones); each response must be no 5xx and
match the documented status codes, content types, headers and schemas, and every
error must be an RFC 9457 problem. `make test` runs a bounded, reproducible number
of examples per operation; `make fuzz` runs many more, with fresh randomness.

The tests are parametrized here, one item per operation, rather than with
`schema.parametrize()`: under pytest 9 its items share one node id, and
pytest-xdist (which `make test` uses) then reports a failing operation as passed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from psycopg import Connection
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test

from api.app import create_app
from market_data.settings import Settings
from tests.helpers import table_checksum
from tests.reliability.conftest import PROBLEM_MEDIA_TYPE, PROBLEM_MEMBERS, wired

# About 1,500 requests in make test (20 s in one process); FUZZ_EXAMPLES bounds it.
pytestmark = pytest.mark.slow
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)

# The app under test is built at import, so that each operation is its own test
# item; `fuzzed_app` gives it the test's settings and wires its key store and
# queue to the test's before any request is made.
APP = create_app(Settings(database_url="postgresql://127.0.0.1/not-used-until-a-request"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The key is the test's to send (or not): the fuzzer leaves the security header alone.
schema.config.generation.update(with_security_parameters=False)
# Every check schemathesis has, bar one: "a schema-valid request is accepted" cannot
# hold for rules that span parameters (a reversed or too-wide range, a cursor from
# another query, symbol grammar), which are 4xx problems by contract.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}
ADMIN_OPERATIONS = [label for label in OPERATIONS if " /api/v1/admin/" in label]


def fuzz(label: str, check: Callable[[Any], None]) -> None:
    """Run `check(case)` over the generated cases of one operation (all of schemathesis'
    phases: schema examples, coverage of boundaries and negations, random fuzzing)."""
    test = build_operation_test(
        config=schema.config,
        operation=OPERATIONS[label],
        test_func=check,
        given_kwargs={},
        feedback=FeedbackSources(),
        explicit_settings=FUZZ_SETTINGS,
    )
    test()


# One environment per module (tests/reliability/conftest.py); what the fuzzer
# changes as an admin (symbols tracked, backfills planned, keys issued) stays,
# as it would in a real API.
REQUESTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzzed_app(
    settings: Settings, module_conn: Connection[Any], module_key_services: Any
) -> Iterator[None]:
    APP.state.settings = settings
    with wired(APP, module_key_services):
        yield
    total = sum(REQUESTS.values())
    print(f"\nfuzzing: {total} requests over {len(REQUESTS)} operations x key/no key")
    for label, count in sorted(REQUESTS.items()):
        print(f"  {count:6d}  {label}")


def errors_are_problems(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is application/problem+json with the five RFC 9457 members."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])[0].split(";")[0]
    assert media_type == PROBLEM_MEDIA_TYPE, f"{response.status_code} answered as {media_type}"
    body = response.json()
    missing = [m for m in PROBLEM_MEMBERS if m not in body]
    assert not missing, f"problem without {missing}"
    assert body["status"] == response.status_code
    return True


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_operation_answers_off_schema_or_5xx_for_an_admin(
    label: str, fuzzed_app: None, module_admin_key: str
) -> None:
    def check(case: Any) -> None:
        REQUESTS[f"admin {label}"] += 1
        case.call_and_validate(
            headers={"X-API-Key": module_admin_key},
            additional_checks=[errors_are_problems],
            excluded_checks=EXCLUDED_CHECKS,
        )

    fuzz(label, check)


def admin_state(conn: Connection[Any], key_services: Any) -> tuple[str, ...]:
    keys = sorted((k.key_id, k.name, k.revoked_at is None) for k in key_services.admin.list())
    runs = conn.execute("SELECT count(*) FROM backfill_runs").fetchone()
    return (table_checksum(conn, "symbols"), str(runs), str(keys))


@pytest.fixture
def admin_state_unchanged(module_conn: Connection[Any], module_key_services: Any) -> Iterator[None]:
    """Keys, symbols and backfill runs are as they were after all of one operation's examples."""
    before = admin_state(module_conn, module_key_services)
    yield
    after = admin_state(module_conn, module_key_services)
    assert after == before, "an anonymous call changed admin state"


@pytest.mark.parametrize("label", ADMIN_OPERATIONS)
def test_no_admin_operation_lets_an_anonymous_caller_in_or_change_anything(
    label: str, fuzzed_app: None, admin_state_unchanged: None
) -> None:
    def check(case: Any) -> None:
        REQUESTS[f"anonymous {label}"] += 1
        response = case.call_and_validate(
            additional_checks=[errors_are_problems], excluded_checks=EXCLUDED_CHECKS
        )
        # 401, or refused before the key is even read: an unparseable body, a wrong method.
        assert response.status_code in (400, 401, 405, 422), response.status_code

    fuzz(label, check)


def test_every_documented_error_response_is_a_problem_document() -> None:
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, operations in APP.openapi()["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[0] in "45" and PROBLEM_MEDIA_TYPE not in response.get("content", {})
    ]
    assert undocumented == []
