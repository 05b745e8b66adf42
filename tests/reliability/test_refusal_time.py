"""Refusals are fast: under DynamoDB throttling or an outage a keyed request is answered
503 with Retry-After within a bounded time, measured here with the production
timeouts and retry budget (the rest of the suite gives moto longer timeouts).

The bound of one DynamoDB operation is the retry budget plus one attempt (no
retry starts after the budget, and the one that started before it is bounded by
the client's connect and read timeouts). A refused keyed request runs one such
operation (the key read, or the rate count for a cached key) and, on an admin
route, one single-attempt audit write after it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import get_key_services
from market_data.keys.aws import dynamodb_client, new_dynamodb_client
from market_data.keys.format import generate_key
from market_data.keys.models import Scope
from market_data.keys.services import dynamo_services
from market_data.settings import Settings
from tests.dynamo_faults import KINDS, DynamoFault
from tests.key_fakes import TEST_PEPPER
from tests.reliability.conftest import assert_problem

# The time the app itself takes around the DynamoDB calls (TestClient, FastAPI,
# problem rendering), generous because the cores are shared.
APP_OVERHEAD_S = 0.15
PRODUCTION = {
    name: Settings.model_fields[name].default
    for name in (
        "dynamodb_connect_timeout_s",
        "dynamodb_read_timeout_s",
        "dynamodb_max_attempts",
        "dynamodb_retry_budget_s",
    )
}


def production(settings: Settings) -> Settings:
    """The test's settings with the DynamoDB timeouts and retries of production."""
    return settings.model_copy(update=PRODUCTION)


def attempt_s(settings: Settings) -> float:
    return settings.dynamodb_connect_timeout_s + settings.dynamodb_read_timeout_s


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_fast_503(response: Any, elapsed: float, bound: float, what: str) -> None:
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5", what
    assert body["type"].endswith("/key-store-unavailable"), what
    assert elapsed <= bound, f"{what}: refused after {elapsed:.3f} s, bound {bound:.3f} s"


@pytest.fixture(params=KINDS)
def failing_dynamodb(
    request: pytest.FixtureRequest, key_settings: Settings
) -> Iterator[tuple[Settings, Any, DynamoFault]]:
    settings = production(key_settings)
    client = new_dynamodb_client(settings)
    fault = DynamoFault(client, str(request.param))
    yield settings, client, fault
    fault.close()


def _warm_up(api: TestClient, headers: dict[str, str]) -> None:
    """One admin request answered while DynamoDB is healthy, so the key is cached.

    Not measured: with the production timeouts, moto (in this process, behind the
    test's own threads) can miss the read timeout on a table's first call when the
    cores are busy, and that refusal is the behaviour under test, not a failure."""
    for _ in range(5):
        if api.get("/api/v1/admin/api-keys", headers=headers).status_code == 200:
            return
    raise AssertionError("the healthy key store never answered the warm-up request")


def test_a_keyed_request_is_refused_within_the_retry_budget_while_dynamodb_fails_fast(
    failing_dynamodb: tuple[Settings, Any, DynamoFault],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, client, fault = failing_dynamodb
    services = dynamo_services(settings, client=client)
    reader = services.admin.create(name="reader", created_by="tests").api_key
    admin = services.admin.create(name="ops", scopes=[Scope.ADMIN], created_by="tests").api_key
    app = create_app(settings)
    app.dependency_overrides[get_key_services] = lambda: services
    with TestClient(app, raise_server_exceptions=False) as api:
        admin_headers = {"X-API-Key": admin}
        _warm_up(api, admin_headers)
        fault.active = True
        # Throttling, 5xx and refused connections answer at once, so the retries
        # (three attempts, at most 25 + 50 ms of backoff) are what a refusal costs.
        bound = settings.dynamodb_retry_budget_s + APP_OVERHEAD_S
        measured = {}
        for what, call in {
            "uncached read key": lambda: api.get("/api/v1/symbols", headers={"X-API-Key": reader}),
            "cached admin key, read": lambda: api.get(
                "/api/v1/admin/api-keys", headers=admin_headers
            ),
            "cached admin key, change": lambda: api.post(
                "/api/v1/admin/symbols",
                json={"symbol": "IBM", "asset_class": "stock"},
                headers=admin_headers,
            ),
        }.items():
            response, measured[what] = timed(call)
            assert_fast_503(response, measured[what], bound, f"{fault.kind}, {what}")
    assert fault.failed_calls >= 3 * 3  # every refusal came after three attempts
    with capsys.disabled():
        print(
            f"\n{fault.kind}: " + ", ".join(f"{w} {t * 1000:.0f} ms" for w, t in measured.items())
        )


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A DynamoDB endpoint that takes connections and never answers (a hung service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)  # connections complete in the backlog; nothing is ever read
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_keyed_request_is_refused_within_the_timeouts_while_dynamodb_hangs(
    key_settings: Settings, silent_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = production(key_settings).model_copy(
        update={
            "aws_endpoint_url": silent_endpoint,
            "api_key_pepper": SecretStr(TEST_PEPPER.decode()),
        }
    )
    key = generate_key()  # well formed, so it is looked up (and never found)
    one_operation = settings.dynamodb_retry_budget_s + attempt_s(settings)
    measured = {}
    dynamodb_client(settings)  # built once per process (model loading is not a refusal's cost)
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        assert api.get("/health").status_code == 200  # and the app's middleware stack
        response, measured["read key"] = timed(
            lambda: api.get("/api/v1/symbols", headers={"X-API-Key": key})
        )
        assert_fast_503(response, measured["read key"], one_operation + APP_OVERHEAD_S, "read")
        # An admin refusal is audited after the response: one more attempt, no retries.
        response, measured["admin key"] = timed(
            lambda: api.post(
                "/api/v1/admin/symbols",
                json={"symbol": "IBM", "asset_class": "stock"},
                headers={"X-API-Key": key},
            )
        )
        bound = one_operation + attempt_s(settings) + APP_OVERHEAD_S
        assert_fast_503(response, measured["admin key"], bound, "admin")
    with capsys.disabled():
        print("\nhung: " + ", ".join(f"{w} {t * 1000:.0f} ms" for w, t in measured.items()))
