"""DynamoDB throttled, failing or unreachable: keyed calls fail closed (503 with
Retry-After, never a pass), nothing is changed on the caller's behalf, and the
API lets the same keys in again once DynamoDB answers, with no restart.

Faults are injected into the real botocore client on moto ("before-send"), so
the key store's own retries run, backoff sleeps included, as they would against
AWS (how long a refusal takes is measured in test_refusal_time.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.settings import Settings
from tests.dynamo_faults import KINDS, DynamoFault
from tests.reliability.conftest import assert_problem


@pytest.fixture(params=KINDS)
def dynamo_fault(request: pytest.FixtureRequest, key_dynamodb: Any) -> Iterator[DynamoFault]:
    fault = DynamoFault(key_dynamodb, str(request.param))
    yield fault
    fault.close()


def test_keyed_calls_fail_closed_while_dynamodb_fails_and_recover_by_themselves(
    keyed_client: TestClient,
    key_services: Any,
    admin_key: str,
    conn: Connection[Any],
    dynamo_fault: DynamoFault,
) -> None:
    reader = key_services.admin.create(name="reader", created_by="tests").api_key
    never_issued = key_services.admin.create(name="gone", created_by="tests")
    key_services.admin.delete(never_issued.record.key_id, acting_key_id="tests")
    admin = {"X-API-Key": admin_key}
    # Both keys have been seen, so this instance holds them in its key cache.
    assert keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader}).status_code == 200
    assert keyed_client.get("/api/v1/admin/symbols", headers=admin).status_code == 200

    dynamo_fault.active = True
    refused = {
        "cached reader key": keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader}),
        "cached admin key": keyed_client.get("/api/v1/admin/api-keys", headers=admin),
        "admin write": keyed_client.post(
            "/api/v1/admin/symbols", json={"symbol": "IBM", "asset_class": "stock"}, headers=admin
        ),
        "deleted key": keyed_client.get(
            "/api/v1/symbols", headers={"X-API-Key": never_issued.api_key}
        ),
    }
    for what, response in refused.items():
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5", what
        assert body["type"].endswith("/key-store-unavailable"), what
    # Each refusal came after the key store's three attempts at least once.
    assert dynamo_fault.failed_calls >= 3 * len(refused)
    assert conn.execute("SELECT count(*) FROM symbols WHERE symbol = 'IBM'").fetchone() == (0,)
    # No key, no key check: public data stays open by default (REQUIRE_READ_KEY closes it).
    assert keyed_client.get("/api/v1/symbols").status_code == 200

    dynamo_fault.active = False
    assert keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader}).status_code == 200
    assert keyed_client.get("/api/v1/admin/api-keys", headers=admin).status_code == 200
    created = keyed_client.post(
        "/api/v1/admin/symbols", json={"symbol": "IBM", "asset_class": "stock"}, headers=admin
    )
    assert created.status_code == 201
    gone = keyed_client.get("/api/v1/symbols", headers={"X-API-Key": never_issued.api_key})
    assert_problem(gone, 401)


def test_with_require_read_key_a_failing_key_store_closes_public_data_too(
    keyed_client: TestClient, key_services: Any, key_dynamodb: Any, settings: Settings
) -> None:
    from api.deps import current_settings

    strict = settings.model_copy(update={"require_read_key": True})
    overrides = keyed_client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[current_settings] = lambda: strict
    reader = key_services.admin.create(name="reader", created_by="tests").api_key
    fault = DynamoFault(key_dynamodb, "throttled")
    try:
        fault.active = True
        assert_problem(keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader}), 503)
        assert_problem(keyed_client.get("/api/v1/symbols"), 401)
    finally:
        fault.close()
        overrides.pop(current_settings, None)
