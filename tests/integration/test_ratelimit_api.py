"""Per-key rate limits through the API, counted in emulated DynamoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from market_data.keys.models import Scope
from market_data.keys.ratelimit import DynamoRateCounter
from market_data.settings import Settings
from tests.key_fakes import ManualClock

WINDOW_END = int(datetime(2030, 1, 2, 3, 5, tzinfo=UTC).timestamp())  # the clock starts 03:04:05


def limited_key(key_services: Any, per_minute: int, *scopes: Scope) -> str:
    issued = key_services.admin.create(
        name="limited",
        scopes=scopes or (Scope.READ,),
        rate_limit_per_minute=per_minute,
        created_by="tests",
    )
    return str(issued.api_key)


def test_the_request_over_the_limit_gets_429_with_retry_after_and_rate_headers(
    keyed_client: TestClient, key_services: Any
) -> None:
    headers = {"X-API-Key": limited_key(key_services, 3)}
    responses = [keyed_client.get("/api/v1/symbols", headers=headers) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3"}
    assert {r.headers["X-RateLimit-Reset"] for r in responses} == {str(WINDOW_END)}
    refused = responses[-1]
    assert refused.headers["Retry-After"] == "55"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert "3 requests per minute" in refused.json()["detail"]


def test_the_limit_resets_with_the_next_window(
    keyed_client: TestClient, key_services: Any, key_clock: ManualClock
) -> None:
    headers = {"X-API-Key": limited_key(key_services, 1)}
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 200
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 429
    key_clock.advance(seconds=54)  # 03:04:59
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 429
    key_clock.advance(seconds=1)  # 03:05:00
    fresh = keyed_client.get("/api/v1/symbols", headers=headers)
    assert fresh.status_code == 200
    assert fresh.headers["X-RateLimit-Remaining"] == "0"
    assert fresh.headers["X-RateLimit-Reset"] == str(WINDOW_END + 60)


def test_default_limits_follow_the_scope(
    keyed_client: TestClient, key_services: Any, admin_key: str
) -> None:
    admin_only = key_services.admin.create(name="ops", scopes=[Scope.ADMIN], created_by="t")
    reader = key_services.admin.create(name="reader", created_by="t")
    admin_call = keyed_client.get(
        "/api/v1/admin/api-keys", headers={"X-API-Key": admin_only.api_key}
    )
    read_call = keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader.api_key})
    assert admin_call.headers["X-RateLimit-Limit"] == "120"
    assert read_call.headers["X-RateLimit-Limit"] == "600"


def test_anonymous_requests_carry_no_rate_headers(keyed_client: TestClient) -> None:
    response = keyed_client.get("/api/v1/symbols")
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


def test_errors_from_a_keyed_call_still_carry_the_rate_headers(
    keyed_client: TestClient, admin_key: str
) -> None:
    response = keyed_client.get("/api/v1/admin/symbols/NOPE", headers={"X-API-Key": admin_key})
    assert response.status_code == 404
    assert response.headers["X-RateLimit-Remaining"] == "599"


def test_a_rate_limited_admin_call_is_audited_as_429(
    keyed_client: TestClient, key_services: Any, key_clock: ManualClock
) -> None:
    key = limited_key(key_services, 1, Scope.ADMIN)
    headers = {"X-API-Key": key}
    keyed_client.get("/api/v1/admin/api-keys", headers=headers)
    key_clock.advance(seconds=1)  # same window, but a later audit time
    keyed_client.get("/api/v1/admin/api-keys", headers=headers)
    key_id = key_services.authenticator.authenticate(key).key_id
    outcomes = [e.outcome for e in key_services.audit.page(key_id, limit=10).events]
    assert outcomes == [429, 200]


def test_the_dynamodb_counter_refuses_without_counting_and_expires_after_the_window(
    key_settings: Settings, key_services: Any
) -> None:
    from market_data.keys.aws import new_dynamodb_client

    client = new_dynamodb_client(key_settings)
    counter = DynamoRateCounter(lambda: client, key_settings.rate_limit_table)
    results = [counter.increment("k1#60", limit=2, expires_at=300) for _ in range(4)]
    assert results == [1, 2, None, None]
    item = client.get_item(TableName=key_settings.rate_limit_table, Key={"pk": {"S": "k1#60"}})
    assert item["Item"]["n"] == {"N": "2"}
    assert item["Item"]["ttl"] == {"N": "300"}
