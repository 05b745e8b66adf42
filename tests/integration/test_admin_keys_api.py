"""Admin API for keys, end to end on emulated DynamoDB."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from market_data.keys.format import is_well_formed
from market_data.settings import Settings
from tests.key_fakes import ManualClock

KEYS = "/api/v1/admin/api-keys"


@pytest.fixture
def admin(admin_key: str) -> dict[str, str]:
    return {"X-API-Key": admin_key}


def create(client: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(KEYS, json={"name": "reader", **body}, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def audit_count(dynamodb: Any, settings: Settings) -> int:
    return int(dynamodb.scan(TableName=settings.api_audit_table, Select="COUNT")["Count"])


def test_a_created_key_is_shown_once_and_works(
    keyed_client: TestClient, admin: dict[str, str]
) -> None:
    created = create(keyed_client, admin, name="dashboards")
    assert is_well_formed(created["api_key"])
    assert created["key_preview"] == f"mdw_…{created['api_key'][-4:]}"
    assert created["scopes"] == ["read"]
    assert created["active"] is True and created["expires_at"] is None
    reader = {"X-API-Key": created["api_key"]}
    assert keyed_client.get("/api/v1/symbols", headers=reader).status_code == 200
    listed = keyed_client.get(KEYS, headers=admin)
    fetched = keyed_client.get(f"{KEYS}/{created['id']}", headers=admin)
    assert created["api_key"] not in listed.text + fetched.text
    for item in [*listed.json()["api_keys"], fetched.json()]:
        assert "api_key" not in item and "key_hash" not in item


def test_scopes_expiry_and_rate_limit_can_be_chosen(
    keyed_client: TestClient, admin: dict[str, str], key_clock: ManualClock
) -> None:
    created = create(
        keyed_client,
        admin,
        scopes=["admin", "read", "admin"],
        expires_at="2030-06-01T12:00:00",  # no offset: taken as UTC
        rate_limit_per_minute=30,
    )
    assert created["scopes"] == ["read", "admin"]
    assert created["expires_at"] == "2030-06-01T12:00:00Z"
    assert created["rate_limit_per_minute"] == 30
    assert created["created_by"].startswith("key:")


def test_revoke_restore_and_rename(keyed_client: TestClient, admin: dict[str, str]) -> None:
    created = create(keyed_client, admin)
    url, reader = f"{KEYS}/{created['id']}", {"X-API-Key": created["api_key"]}
    revoked = keyed_client.put(url, json={"active": False}, headers=admin).json()
    assert (revoked["active"], revoked["status"]) == (False, "revoked")
    assert keyed_client.get("/api/v1/symbols", headers=reader).status_code == 401
    restored = keyed_client.put(url, json={"active": True, "name": "renamed"}, headers=admin)
    assert restored.json()["active"] is True and restored.json()["name"] == "renamed"
    assert keyed_client.get("/api/v1/symbols", headers=reader).status_code == 200


def test_listing_can_leave_out_revoked_and_expired_keys(
    keyed_client: TestClient, admin: dict[str, str], key_clock: ManualClock
) -> None:
    revoked = create(keyed_client, admin, name="revoked")
    keyed_client.put(f"{KEYS}/{revoked['id']}", json={"active": False}, headers=admin)
    create(keyed_client, admin, name="expiring", expires_at="2030-01-02T04:00:00Z")
    key_clock.advance(hours=2)
    everything = keyed_client.get(KEYS, headers=admin).json()
    assert {k["name"] for k in everything["api_keys"]} == {"test admin", "revoked", "expiring"}
    assert everything["count"] == 3
    active = keyed_client.get(KEYS, params={"active_only": "true"}, headers=admin).json()
    assert [k["name"] for k in active["api_keys"]] == ["test admin"]


def test_an_admin_key_cannot_revoke_or_delete_itself(
    keyed_client: TestClient, admin: dict[str, str], key_services: Any, admin_key: str
) -> None:
    own_id = key_services.authenticator.authenticate(admin_key).key_id
    revoke = keyed_client.put(f"{KEYS}/{own_id}", json={"active": False}, headers=admin)
    delete = keyed_client.delete(f"{KEYS}/{own_id}", headers=admin)
    assert (revoke.status_code, delete.status_code) == (409, 409)
    assert keyed_client.get(KEYS, headers=admin).status_code == 200


def test_deleting_a_key_keeps_its_audit_trail(
    keyed_client: TestClient, admin: dict[str, str], key_services: Any
) -> None:
    created = create(keyed_client, admin, scopes=["admin"])
    own = {"X-API-Key": created["api_key"]}
    keyed_client.get(KEYS, headers=own)
    assert keyed_client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 204
    assert keyed_client.get(f"{KEYS}/{created['id']}", headers=admin).status_code == 404
    trail = keyed_client.get(f"{KEYS}/{created['id']}/audit", headers=admin).json()
    assert [(e["action"], e["outcome"]) for e in trail["events"]] == [("list_api_keys", 200)]
    # Once deleted the key is just an unknown key; its failures go under "unknown".
    assert keyed_client.get(KEYS, headers=own).status_code == 401
    unknown = keyed_client.get(f"{KEYS}/unknown/audit", headers=admin).json()["events"]
    assert [(e["outcome"], e["detail"]) for e in unknown] == [(401, "key unknown")]


def test_every_admin_call_writes_exactly_one_audit_item(
    keyed_client: TestClient,
    admin: dict[str, str],
    key_dynamodb: Any,
    key_settings: Settings,
    key_clock: ManualClock,
) -> None:
    created = create(keyed_client, admin)
    url = f"{KEYS}/{created['id']}"
    calls = [
        ("POST", KEYS, {"name": "another"}),
        ("GET", KEYS, None),
        ("GET", url, None),
        ("PUT", url, {"name": "renamed"}),
        ("PUT", url, {"active": False}),
        ("GET", f"{url}/audit", None),
        ("DELETE", url, None),
        ("GET", url, None),  # 404 is audited too
        ("PUT", url, {"bogus": 1}),  # and 422
        ("POST", "/api/v1/admin/symbols", {"symbol": "AAPL", "asset_class": "stock"}),
        ("GET", "/api/v1/admin/symbols", None),
        ("GET", "/api/v1/admin/symbols/AAPL", None),
        ("PUT", "/api/v1/admin/symbols/AAPL", {"name": "Apple"}),
        ("PUT", "/api/v1/admin/symbols/AAPL/timeframes", {"timeframes": ["1d"]}),
        ("DELETE", "/api/v1/admin/symbols/AAPL", None),
    ]
    for method, path, body in calls:
        before = audit_count(key_dynamodb, key_settings)
        key_clock.advance(seconds=1)
        response = keyed_client.request(method, path, json=body, headers=admin)
        assert response.status_code < 500, response.text
        assert audit_count(key_dynamodb, key_settings) == before + 1, (method, path)


def test_the_audit_pages_newest_first_with_a_cursor(
    keyed_client: TestClient,
    admin: dict[str, str],
    key_services: Any,
    admin_key: str,
    key_clock: ManualClock,
) -> None:
    own_id = key_services.authenticator.authenticate(admin_key).key_id
    for n in range(5):
        key_clock.advance(seconds=1)
        keyed_client.get(f"{KEYS}/{own_id}", headers={**admin, "User-Agent": f"call-{n}"})
    key_clock.advance(seconds=1)
    url = f"{KEYS}/{own_id}/audit"
    first = keyed_client.get(url, params={"limit": 3}, headers=admin).json()
    assert [e["user_agent"] for e in first["events"]] == ["call-4", "call-3", "call-2"]
    assert first["events"][0]["action"] == "get_api_key"
    assert first["events"][0]["target"] == own_id
    assert first["events"][0]["outcome"] == 200
    second = keyed_client.get(
        url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    # The first audit call (made after call-4) was recorded too, but is newer than the cursor.
    assert [e["user_agent"] for e in second["events"]] == ["call-1", "call-0"]
    assert second["next_cursor"] is None


def test_failures_without_a_known_key_are_listed_under_unknown(
    keyed_client: TestClient, admin: dict[str, str]
) -> None:
    keyed_client.get(KEYS, headers={"X-API-Key": "mdw_not_a_key"})
    events = keyed_client.get(f"{KEYS}/unknown/audit", headers=admin).json()["events"]
    assert [(e["outcome"], e["detail"]) for e in events] == [(401, "key malformed")]
