"""The X-API-Key check through the API, with keys in emulated DynamoDB."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient
from mangum import Mangum

from api.auth import get_key_services
from api.deps import current_settings
from devtools.lambda_context import FakeLambdaContext, load_event
from market_data.keys.aws import new_dynamodb_client
from market_data.keys.format import CHECKSUM_LENGTH, PREFIX, KeyHasher
from market_data.keys.models import Scope
from market_data.keys.services import dynamo_services
from market_data.settings import Settings
from tests.key_fakes import TEST_PEPPER, ManualClock

# One call per admin route, with a body each accepts, so only the key decides.
ADMIN_CALLS = [
    ("POST", "/api/v1/admin/api-keys", {"name": "x"}),
    ("GET", "/api/v1/admin/api-keys", None),
    ("GET", "/api/v1/admin/api-keys/0123456789abcdef0123456789abcdef", None),
    ("PUT", "/api/v1/admin/api-keys/0123456789abcdef0123456789abcdef", {"active": False}),
    ("DELETE", "/api/v1/admin/api-keys/0123456789abcdef0123456789abcdef", None),
    ("GET", "/api/v1/admin/api-keys/0123456789abcdef0123456789abcdef/audit", None),
    ("POST", "/api/v1/admin/symbols", {"symbol": "AAPL", "asset_class": "stock"}),
    ("GET", "/api/v1/admin/symbols", None),
    ("GET", "/api/v1/admin/symbols/AAPL", None),
    ("PUT", "/api/v1/admin/symbols/AAPL", {"active": True}),
    ("PUT", "/api/v1/admin/symbols/AAPL/timeframes", {"timeframes": ["1d"]}),
    ("DELETE", "/api/v1/admin/symbols/AAPL", None),
]


def call(client: TestClient, method: str, path: str, body: Any, key: str | None) -> Any:
    headers = {"X-API-Key": key} if key is not None else {}
    return client.request(method, path, json=body, headers=headers)


def reader_key(key_services: Any, **options: Any) -> str:
    return str(key_services.admin.create(name="reader", created_by="tests", **options).api_key)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.fixture
def require_read_key(keyed_client: TestClient, settings: Settings) -> Iterator[None]:
    settings = settings.model_copy(update={"require_read_key": True})
    overrides = keyed_client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[current_settings] = lambda: settings
    yield
    overrides.pop(current_settings, None)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_every_admin_route_wants_a_key_and_says_how_to_send_it(
    keyed_client: TestClient, method: str, path: str, body: Any
) -> None:
    response = call(keyed_client, method, path, body, None)
    assert_problem(response, 401)
    assert 'header="X-API-Key"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_a_read_key_gets_403_on_every_admin_route(
    keyed_client: TestClient, key_services: Any, method: str, path: str, body: Any
) -> None:
    response = call(keyed_client, method, path, body, reader_key(key_services))
    assert_problem(response, 403)
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "key",
    ["nonsense", "mdw_" + "a" * 36, PREFIX + "0" * 30 + "ZZZZZZ", "Bearer mdw_x", " " * 3],
)
def test_anything_that_is_not_a_key_is_401(keyed_client: TestClient, key: str) -> None:
    body = assert_problem(
        keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": key}), 401
    )
    assert body["detail"] in ("The API key is not valid.", "The X-API-Key header is required.")


def test_a_well_formed_key_that_was_never_issued_is_401(
    keyed_client: TestClient, key_services: Any
) -> None:
    from market_data.keys.format import generate_key

    response = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": generate_key()})
    assert assert_problem(response, 401)["detail"] == "The API key is not valid."


def test_a_key_with_a_bad_checksum_is_refused_without_reading_the_key_table(
    keyed_client: TestClient, key_dynamodb: Any, admin_key: str, key_settings: Settings
) -> None:
    calls: list[tuple[str, str]] = []

    def spy(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params.get("TableName", "")))

    key_dynamodb.meta.events.register("provide-client-params.dynamodb.*", spy)
    typo = admin_key[:-1] + ("a" if admin_key[-1] != "a" else "b")
    response = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": typo})
    assert_problem(response, 401)
    # The failure itself is audited (one write to the audit table); the key table
    # and the rate-limit table are never touched.
    assert calls == [("PutItem", key_settings.api_audit_table)]


def test_a_revoked_key_stops_working_at_once_on_the_instance_that_revoked_it(
    keyed_client: TestClient, key_services: Any, admin_key: str
) -> None:
    reader = key_services.admin.create(
        name="reader", scopes=[Scope.READ, Scope.ADMIN], created_by="t"
    )
    headers = {"X-API-Key": reader.api_key}
    assert keyed_client.get("/api/v1/admin/api-keys", headers=headers).status_code == 200
    keyed_client.put(
        f"/api/v1/admin/api-keys/{reader.record.key_id}",
        json={"active": False},
        headers={"X-API-Key": admin_key},
    )
    response = keyed_client.get("/api/v1/admin/api-keys", headers=headers)
    assert assert_problem(response, 401)["detail"] == "The API key has been revoked."


def test_a_key_revoked_on_another_instance_stops_working_within_the_cache_bound(
    keyed_client: TestClient, key_services: Any, key_settings: Settings, key_clock: ManualClock
) -> None:
    key = reader_key(key_services)
    headers = {"X-API-Key": key}
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 200
    other_instance = dynamo_services(
        key_settings, clock=key_clock, client=new_dynamodb_client(key_settings)
    )
    key_id = other_instance.authenticator.authenticate(key).key_id
    other_instance.admin.update(key_id, active=False)
    key_clock.advance(seconds=29)
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 200
    key_clock.advance(seconds=1)  # 30 s: the cached record is read again
    assert_problem(keyed_client.get("/api/v1/symbols", headers=headers), 401)


def test_an_expired_key_is_401_from_the_moment_it_expires(
    keyed_client: TestClient, key_services: Any, key_clock: ManualClock
) -> None:
    key = reader_key(key_services, expires_at=key_clock() + timedelta(minutes=10))
    headers = {"X-API-Key": key}
    assert keyed_client.get("/api/v1/symbols", headers=headers).status_code == 200
    key_clock.advance(minutes=10)
    response = keyed_client.get("/api/v1/symbols", headers=headers)
    assert assert_problem(response, 401)["detail"] == "The API key has expired."


@pytest.mark.parametrize(
    ("code", "operation"),
    [
        ("ProvisionedThroughputExceededException", "get_item"),
        ("InternalServerError", "get_item"),
        ("ProvisionedThroughputExceededException", "update_item"),  # the rate counter
    ],
)
def test_a_failing_key_store_fails_closed_with_503_and_retry_after(
    keyed_client: TestClient,
    key_dynamodb: Any,
    admin_key: str,
    key_settings: Settings,
    key_clock: ManualClock,
    code: str,
    operation: str,
) -> None:
    client = new_dynamodb_client(key_settings)
    failing = dynamo_services(key_settings, clock=key_clock, client=client)
    keyed_client.app.dependency_overrides[get_key_services] = lambda: failing  # type: ignore[attr-defined]
    with Stubber(client) as stubber:
        if operation == "update_item":
            item = stored_item(key_dynamodb, key_settings, admin_key)
            stubber.add_response("get_item", {"Item": item})
            stubber.add_response("update_item", {})  # last_used_at
        stubber.add_client_error(operation, code, http_status_code=400)
        response = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": admin_key})
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert body["type"].endswith("/key-store-unavailable")
    assert code not in response.text  # no internals in the answer


def stored_item(dynamodb: Any, settings: Settings, api_key: str) -> dict[str, Any]:
    """A key's raw DynamoDB item, for stubbing a successful read."""
    key_hash = KeyHasher(TEST_PEPPER).hash(api_key)
    item: dict[str, Any] = dynamodb.get_item(
        TableName=settings.api_keys_table, Key={"key_hash": {"S": key_hash}}
    )["Item"]
    return item


def test_a_missing_key_table_fails_closed(
    keyed_client: TestClient, admin_key: str, key_settings: Settings, key_clock: ManualClock
) -> None:
    broken = dynamo_services(
        key_settings.model_copy(update={"api_keys_table": "no-such-table"}), clock=key_clock
    )
    keyed_client.app.dependency_overrides[get_key_services] = lambda: broken  # type: ignore[attr-defined]
    response = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": admin_key})
    assert_problem(response, 503)


def test_public_data_stays_open_without_a_key_by_default(keyed_client: TestClient) -> None:
    assert keyed_client.get("/api/v1/symbols").status_code == 200


def test_a_bad_key_is_refused_even_on_an_open_route(keyed_client: TestClient) -> None:
    response = keyed_client.get("/api/v1/symbols", headers={"X-API-Key": "mdw_wrong"})
    assert_problem(response, 401)


def test_with_require_read_key_public_data_needs_a_key_with_the_read_scope(
    keyed_client: TestClient, key_services: Any, require_read_key: None
) -> None:
    admin_only = key_services.admin.create(name="ops", scopes=[Scope.ADMIN], created_by="t")
    assert_problem(keyed_client.get("/api/v1/symbols"), 401)
    assert_problem(keyed_client.get("/api/v1/historical/AAPL"), 401)
    assert_problem(
        keyed_client.get("/api/v1/symbols", headers={"X-API-Key": admin_only.api_key}), 403
    )
    reader = {"X-API-Key": reader_key(key_services)}
    assert keyed_client.get("/api/v1/symbols", headers=reader).status_code == 200
    assert keyed_client.get("/health").status_code == 200  # liveness stays open


def test_every_authentication_failure_is_audited(
    keyed_client: TestClient, key_services: Any, require_read_key: None
) -> None:
    keyed_client.get("/api/v1/symbols")
    keyed_client.get("/api/v1/symbols", headers={"X-API-Key": "mdw_wrong"})
    reader = key_services.admin.create(name="r", created_by="t")
    keyed_client.get("/api/v1/admin/symbols", headers={"X-API-Key": reader.api_key})
    keyed_client.get("/api/v1/symbols", headers={"X-API-Key": reader.api_key})  # allowed
    unknown = key_services.audit.page("unknown", limit=10).events
    assert sorted((e.outcome, e.detail, e.action) for e in unknown) == [
        (401, "key malformed", "symbols"),
        (401, "key missing", "symbols"),
    ]
    (forbidden,) = key_services.audit.page(reader.record.key_id, limit=10).events
    assert (forbidden.outcome, forbidden.action) == (403, "list_tracked_symbols")
    assert forbidden.detail == "scope admin missing"


def test_the_raw_key_is_never_stored_logged_or_printed(
    keyed_client: TestClient,
    key_dynamodb: Any,
    admin_key: str,
    key_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs request bodies at DEBUG
    admin = {"X-API-Key": admin_key}
    created = keyed_client.post(
        "/api/v1/admin/api-keys", json={"name": "leak check"}, headers=admin
    )
    new_key, key_id = created.json()["api_key"], created.json()["id"]
    keyed_client.get("/api/v1/symbols", headers={"X-API-Key": new_key})
    keyed_client.get("/api/v1/admin/symbols", headers={"X-API-Key": new_key})  # 403, audited
    keyed_client.get("/api/v1/admin/api-keys", headers=admin)
    keyed_client.put(f"/api/v1/admin/api-keys/{key_id}", json={"active": False}, headers=admin)
    keyed_client.get("/api/v1/symbols", headers={"X-API-Key": new_key})  # 401, audited
    listed = keyed_client.get("/api/v1/admin/api-keys", headers=admin).text
    audit = keyed_client.get(f"/api/v1/admin/api-keys/{key_id}/audit", headers=admin).text

    tables = {
        name: str(key_dynamodb.scan(TableName=name)["Items"])
        for name in (
            key_settings.api_keys_table,
            key_settings.api_audit_table,
            key_settings.rate_limit_table,
        )
    }
    secrets = [new_key, admin_key]
    # The random part alone (without prefix or checksum) must not leak either.
    secrets += [k[len(PREFIX) : -CHECKSUM_LENGTH] for k in secrets]
    printed = capsys.readouterr()
    for secret in secrets:
        for where, text in {
            **tables,
            "logs": caplog.text,
            "stdout": printed.out,
            "stderr": printed.err,
            "key list": listed,
            "audit page": audit,
        }.items():
            assert secret not in text, f"key material found in {where}"
    assert tables[key_settings.api_audit_table] != "[]"  # there was something to search


def test_the_audit_uses_api_gateways_request_id_and_source_ip(
    client: TestClient, key_services: Any, admin_key: str, settings: Settings
) -> None:
    from api.app import create_app

    app = create_app(settings)
    app.dependency_overrides[get_key_services] = lambda: key_services
    event = load_event("api_health")
    event["path"] = "/api/v1/admin/api-keys"
    event["requestContext"]["path"] = "/prod/api/v1/admin/api-keys"
    event["requestContext"]["requestId"] = "gw-request-42"
    event["headers"]["X-API-Key"] = admin_key
    event["multiValueHeaders"]["X-API-Key"] = [admin_key]
    response = Mangum(app, lifespan="off")(event, FakeLambdaContext())  # type: ignore[arg-type]
    assert response["statusCode"] == 200
    key_id = key_services.authenticator.authenticate(admin_key).key_id
    (audited,) = key_services.audit.page(key_id, limit=5).events
    assert audited.request_id == "gw-request-42"
    assert audited.source_ip == "203.0.113.10"
    assert audited.user_agent == "curl/8.5.0"
    assert audited.action == "list_api_keys"


def test_each_app_checks_keys_in_the_tables_of_its_own_settings(
    key_settings: Settings, admin_key: str
) -> None:
    from api.app import create_app

    working = create_app(key_settings)
    broken = create_app(key_settings.model_copy(update={"api_keys_table": "no-such-table"}))
    headers = {"X-API-Key": admin_key}
    with TestClient(working) as good, TestClient(broken, raise_server_exceptions=False) as bad:
        assert good.get("/api/v1/admin/api-keys", headers=headers).status_code == 200
        assert_problem(bad.get("/api/v1/admin/api-keys", headers=headers), 503)
        assert good.get("/api/v1/admin/api-keys", headers=headers).status_code == 200


def test_deep_health_checks_the_key_tables(
    keyed_client: TestClient, key_settings: Settings, aws: str
) -> None:
    assert keyed_client.get("/health", params={"deep": "true"}).json()["checks"] == {
        "database": "ok",
        "dynamodb": "ok",
    }
    new_dynamodb_client(key_settings).delete_table(TableName=key_settings.rate_limit_table)
    body = assert_problem(keyed_client.get("/health", params={"deep": "true"}), 503)
    assert body["checks"]["dynamodb"].startswith("unavailable")
    assert body["checks"]["database"] == "ok"
