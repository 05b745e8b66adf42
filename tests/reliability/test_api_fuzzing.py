"""Schema-driven fuzzing (schemathesis) of every operation in the app's own OpenAPI document.

Hypothesis generates valid and invalid requests from the schema (examples,
boundary "coverage" cases, then random ones); each response must be no 5xx and
match the documented status codes, content types, headers and schemas, and every
error must be an RFC 9457 problem. `make test` runs a bounded, reproducible number
of examples per operation; `make fuzz` runs many more, with fresh randomness.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from psycopg import Connection
from pydantic import SecretStr

from api.app import create_app
from api.auth import get_key_services
from api.routes.backfill import BackfillQueue, backfill_queue
from devtools.local_aws import create_key_tables
from market_data.keys.services import dynamo_services
from market_data.settings import Settings
from tests.conftest import TABLES
from tests.helpers import table_checksum
from tests.key_fakes import TEST_PEPPER, ManualClock
from tests.reliability.conftest import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_MEMBERS,
    admin_key_without_limits,
    seed_warehouse,
)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
)

# The app under test is built at import, so that each operation is its own test
# item. It reads DATABASE_URL per request, and `fuzzed_app` wires its key store
# and queue to the test's before any request is made.
APP = create_app(Settings(database_url="postgresql://127.0.0.1/not-used-until-a-request"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# The key is the test's to send (or not): the fuzzer leaves the security header alone.
schema.config.generation.update(with_security_parameters=False)
# Every check schemathesis has, bar one: "a schema-valid request is accepted" cannot
# hold for rules that span parameters (a reversed or too-wide range, a cursor from
# another query, symbol grammar), which are 4xx problems by contract.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]


class RecordingSender:
    """SQS for the fuzzer: takes every batch (the queue itself is tested on moto)."""

    def __init__(self) -> None:
        self.sent = 0

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any:
        self.sent += len(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


# One environment for the whole module (its items run together on one xdist
# worker): a seeded warehouse and key tables, built once; what the fuzzer changes
# as an admin (symbols tracked, backfills planned) stays, as it would in a real API.
pytestmark = pytest.mark.xdist_group("api-fuzzing")
REQUESTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_conn(settings: Settings) -> Iterator[Connection[Any]]:
    with psycopg.connect(str(settings.database_url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {TABLES}")
        seed_warehouse(connection)
        yield connection


@pytest.fixture(scope="module")
def fuzz_keys(aws_endpoint: str, settings: Settings) -> Any:
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    key_settings = settings.model_copy(
        update={"aws_endpoint_url": aws_endpoint, "api_key_pepper": SecretStr(TEST_PEPPER.decode())}
    )
    create_key_tables(key_settings)
    return dynamo_services(key_settings, clock=ManualClock())


@pytest.fixture(scope="module")
def fuzz_admin_key(fuzz_keys: Any) -> str:
    return admin_key_without_limits(fuzz_keys)


@pytest.fixture(scope="module")
def fuzzed_app(fuzz_conn: Connection[Any], fuzz_keys: Any) -> Iterator[None]:
    sender = RecordingSender()
    APP.dependency_overrides[get_key_services] = lambda: fuzz_keys
    APP.dependency_overrides[backfill_queue] = lambda: BackfillQueue(sender, "fuzz-queue")
    yield
    APP.dependency_overrides.clear()
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


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_off_schema_or_5xx_for_an_admin(
    case: Any, fuzzed_app: None, fuzz_admin_key: str
) -> None:
    REQUESTS[f"admin {case.operation.label}"] += 1
    case.call_and_validate(
        headers={"X-API-Key": fuzz_admin_key},
        additional_checks=[errors_are_problems],
        excluded_checks=EXCLUDED_CHECKS,
    )


def admin_state(conn: Connection[Any], key_services: Any) -> tuple[str, ...]:
    keys = sorted((k.key_id, k.name, k.revoked_at is None) for k in key_services.admin.list())
    runs = conn.execute("SELECT count(*) FROM backfill_runs").fetchone()
    return (table_checksum(conn, "symbols"), str(runs), str(keys))


@pytest.fixture
def admin_state_unchanged(fuzz_conn: Connection[Any], fuzz_keys: Any) -> Iterator[None]:
    """Keys, symbols and backfill runs are as they were after all of one operation's examples."""
    before = admin_state(fuzz_conn, fuzz_keys)
    yield
    assert admin_state(fuzz_conn, fuzz_keys) == before, "an anonymous call changed admin state"


@schema.include(path_regex="^/api/v1/admin/").parametrize()
@FUZZ_SETTINGS
def test_no_admin_operation_lets_an_anonymous_caller_in_or_change_anything(
    case: Any, fuzzed_app: None, admin_state_unchanged: None
) -> None:
    REQUESTS[f"anonymous {case.operation.label}"] += 1
    response = case.call_and_validate(
        additional_checks=[errors_are_problems], excluded_checks=EXCLUDED_CHECKS
    )
    # 401, or refused before the key is even read: an unparseable body, a wrong method.
    assert response.status_code in (400, 401, 405, 422), response.status_code


def test_every_documented_error_response_is_a_problem_document() -> None:
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, operations in APP.openapi()["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[0] in "45" and PROBLEM_MEDIA_TYPE not in response.get("content", {})
    ]
    assert undocumented == []
