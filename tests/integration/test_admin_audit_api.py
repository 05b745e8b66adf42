"""Every admin change is audited before it is made, with the audit table on moto.

The audit table failing (throttled on every write, the other tables fine):
each change is refused with a 503 `audit-unavailable` and nothing changes;
reads still answer; refused calls are still refused. Events that could not be
written after the response are logged and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from api.routes.admin_backfill import backfill_queue
from market_data.keys.models import Scope
from market_data.queue import SqsJobQueue
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.dynamo_faults import DynamoFault
from tests.key_fakes import ManualClock
from tests.reliability.conftest import RecordingSender, assert_problem

KEYS = "/api/v1/admin/api-keys"
SYMBOLS = "/api/v1/admin/symbols"
BACKFILL = "/api/v1/admin/backfill"

# Every admin route that changes something; {reader} is a key the test issued.
CHANGES = [
    ("POST", KEYS, {"name": "new"}),
    ("PUT", KEYS + "/{reader}", {"active": False}),
    ("PUT", KEYS + "/{reader}", {"name": "renamed"}),
    ("DELETE", KEYS + "/{reader}", None),
    ("POST", SYMBOLS, {"symbol": "IBM", "asset_class": "stock"}),
    ("PUT", SYMBOLS + "/AAPL", {"active": False}),
    ("PUT", SYMBOLS + "/AAPL/timeframes", {"timeframes": ["1h"]}),
    ("DELETE", SYMBOLS + "/AAPL", None),
    ("POST", BACKFILL, {"symbols": ["AAPL"], "start": "2024-01-02", "end": "2024-01-31"}),
]


@pytest.fixture
def admin(keyed_client: TestClient, admin_key: str) -> dict[str, str]:
    return {"X-API-Key": admin_key}


@pytest.fixture
def sender(keyed_client: TestClient) -> Iterator[RecordingSender]:
    """The backfill queue, standing in for SQS: it takes every batch."""
    recording = RecordingSender()
    overrides = keyed_client.app.dependency_overrides  # type: ignore[attr-defined]
    queue = SqsJobQueue(recording, "test-queue", threads=1, attempts=1)
    overrides[backfill_queue] = lambda: queue
    yield recording
    overrides.pop(backfill_queue, None)


@pytest.fixture
def audit_down(key_dynamodb: Any, key_settings: Settings) -> Iterator[DynamoFault]:
    """Every call on the audit table throttled (once active); keys and counters work."""
    fault = DynamoFault(key_dynamodb, "throttled", table=key_settings.api_audit_table)
    yield fault
    fault.close()


def recorder(client: TestClient) -> Any:
    return client.app.state.audit_recorder  # type: ignore[attr-defined]


def everything(
    conn: Connection[Any], dynamodb: Any, settings: Settings, sender: RecordingSender
) -> tuple[Any, ...]:
    """All an admin call could change: keys, tracked symbols, backfill runs, messages sent."""
    keys = dynamodb.scan(TableName=settings.api_keys_table)["Items"]
    return (
        sorted(str(sorted(item.items())) for item in keys),
        conn.execute(
            "SELECT symbol, active, timeframes::text, name FROM symbols ORDER BY symbol"
        ).fetchall(),
        conn.execute("SELECT count(*) FROM backfill_runs").fetchone(),
        sender.sent,
    )


@pytest.mark.parametrize(("method", "path", "body"), CHANGES)
def test_an_admin_change_whose_audit_event_cannot_be_written_is_refused_and_not_made(
    keyed_client: TestClient,
    admin: dict[str, str],
    key_services: Any,
    key_dynamodb: Any,
    key_settings: Settings,
    conn: Connection[Any],
    sender: RecordingSender,
    audit_down: DynamoFault,
    method: str,
    path: str,
    body: Any,
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    reader = key_services.admin.create(name="reader", created_by="tests").record.key_id
    url = path.format(reader=reader)
    keyed_client.get(KEYS, headers=admin)  # records the admin key's first use, not a change
    before = everything(conn, key_dynamodb, key_settings, sender)

    audit_down.active = True
    response = keyed_client.request(method, url, json=body, headers=admin)
    problem = assert_problem(response, 503)
    assert problem["type"].endswith("/audit-unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "X-RateLimit-Remaining" in response.headers
    assert everything(conn, key_dynamodb, key_settings, sender) == before
    assert audit_down.failed_calls >= 3  # the write ahead was retried

    audit_down.active = False
    done = keyed_client.request(method, url, json=body, headers=admin)
    assert done.status_code < 300, done.text
    assert everything(conn, key_dynamodb, key_settings, sender) != before


def test_the_audit_event_is_written_before_the_change_and_completed_after_it(
    keyed_client: TestClient,
    admin: dict[str, str],
    key_dynamodb: Any,
    key_settings: Settings,
    key_services: Any,
    admin_key: str,
    key_clock: ManualClock,
) -> None:
    keyed_client.get(KEYS, headers=admin)  # the admin key is now cached
    key_clock.advance(seconds=1)
    puts: list[tuple[str, str | None]] = []

    def spy(params: dict[str, Any], **_: Any) -> None:
        outcome = params["Item"].get("outcome", {}).get("N")
        puts.append((params["TableName"], outcome))

    key_dynamodb.meta.events.register("provide-client-params.dynamodb.PutItem", spy)
    created = keyed_client.post(KEYS, json={"name": "ops"}, headers=admin)
    assert created.status_code == 201
    audit, keys = key_settings.api_audit_table, key_settings.api_keys_table
    assert puts == [(audit, None), (keys, None), (audit, "201")]
    own = key_services.authenticator.authenticate(admin_key).key_id
    newest = key_services.audit.page(own, limit=1).events[0]
    assert (newest.action, newest.outcome) == ("create_api_key", 201)
    assert newest.target == created.json()["id"]


def test_a_change_whose_outcome_is_lost_stays_in_the_trail_as_attempted(
    keyed_client: TestClient,
    admin: dict[str, str],
    key_dynamodb: Any,
    key_settings: Settings,
    key_services: Any,
    admin_key: str,
    conn: Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyed_client.get(KEYS, headers=admin)
    fault = DynamoFault(key_dynamodb, "throttled", table=key_settings.api_audit_table, passes=1)
    try:
        fault.active = True  # the write ahead goes through, the outcome does not
        lost_before = recorder(keyed_client).counts.lost
        created = keyed_client.post(
            SYMBOLS, json={"symbol": "IBM", "asset_class": "stock"}, headers=admin
        )
    finally:
        fault.close()
    assert created.status_code == 201
    assert conn.execute("SELECT count(*) FROM symbols WHERE symbol = 'IBM'").fetchone() == (1,)
    assert recorder(keyed_client).counts.lost == lost_before + 1
    assert "outcome lost (the event says the change was attempted)" in caplog.text
    own = key_services.authenticator.authenticate(admin_key).key_id
    events = keyed_client.get(f"{KEYS}/{own}/audit", headers=admin).json()["events"]
    attempted = [e for e in events if e["action"] == "create_tracked_symbol"]
    assert [(e["method"], e["outcome"]) for e in attempted] == [("POST", None)]


def test_admin_reads_answer_while_the_audit_table_fails_and_the_lost_events_are_counted(
    keyed_client: TestClient,
    admin: dict[str, str],
    audit_down: DynamoFault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyed_client.get(KEYS, headers=admin)
    counts = recorder(keyed_client).counts
    lost_before = counts.lost
    audit_down.active = True
    caplog.set_level(logging.ERROR, logger="api.audit")
    assert keyed_client.get(KEYS, headers=admin).status_code == 200
    assert keyed_client.get(SYMBOLS, headers=admin).status_code == 200
    assert counts.lost == lost_before + 2
    assert f"{lost_before + 2} lost" in caplog.text


def test_a_failed_authentication_is_refused_as_ever_and_its_event_tried_once(
    keyed_client: TestClient,
    key_services: Any,
    audit_down: DynamoFault,
) -> None:
    reader = key_services.admin.create(name="reader", scopes=[Scope.READ], created_by="t")
    counts = recorder(keyed_client).counts
    lost_before = counts.lost
    audit_down.active = True
    assert_problem(keyed_client.get(KEYS, headers={"X-API-Key": "mdw_wrong"}), 401)
    assert_problem(keyed_client.get(KEYS, headers={"X-API-Key": reader.api_key}), 403)
    assert_problem(keyed_client.post(KEYS, json={"name": "x"}), 401)
    # One attempt each, no retries: the caller chooses how many of these there are.
    assert audit_down.failed_calls == 3
    assert counts.lost == lost_before + 3
