"""The DynamoDB key store and audit log against emulated DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from market_data.errors import InvalidCursorError, KeyNotFound, KeyStoreUnavailable
from market_data.keys.audit import AuditEvent, DynamoAuditLog
from market_data.keys.aws import new_dynamodb_client
from market_data.keys.models import ApiKeyRecord, Scope
from market_data.keys.store import DynamoKeyStore
from market_data.settings import Settings

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def dynamodb(key_settings: Settings) -> Any:
    return new_dynamodb_client(key_settings)


@pytest.fixture
def store(dynamodb: Any, key_settings: Settings) -> DynamoKeyStore:
    return DynamoKeyStore(lambda: dynamodb, key_settings.api_keys_table)


@pytest.fixture
def audit_log(dynamodb: Any, key_settings: Settings) -> DynamoAuditLog:
    return DynamoAuditLog(lambda: dynamodb, key_settings.api_audit_table, timedelta(days=400))


def record(key_id: str = "k1", **changes: Any) -> ApiKeyRecord:
    values: dict[str, Any] = {
        "key_hash": f"hash-of-{key_id}",
        "key_id": key_id,
        "name": "reader",
        "scopes": (Scope.READ,),
        "preview": "mdw_…abcd",
        "created_at": T0,
        "created_by": "tests",
    }
    return ApiKeyRecord(**(values | changes))


def calls_to(dynamodb: Any) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def spy(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, params))

    dynamodb.meta.events.register("provide-client-params.dynamodb.*", spy)
    return seen


def test_a_key_round_trips_through_the_table_by_hash_and_by_id(store: DynamoKeyStore) -> None:
    full = record(
        expires_at=T0 + timedelta(days=30),
        rate_limit_per_minute=50,
        scopes=(Scope.READ, Scope.ADMIN),
    )
    store.add(full)
    assert store.get_by_hash(full.key_hash) == full
    assert store.get_by_id("k1") == full
    assert store.get_by_hash("nope") is None
    assert store.get_by_id("nope") is None


def test_the_hash_is_the_partition_key_and_reads_are_consistent(
    store: DynamoKeyStore, dynamodb: Any, key_settings: Settings
) -> None:
    store.add(record())
    calls = calls_to(dynamodb)
    store.get_by_hash("hash-of-k1")
    store.get_by_id("k1")
    reads = [params for name, params in calls if name == "GetItem"]
    assert reads and all(p["ConsistentRead"] is True for p in reads)
    assert all(p["Key"] == {"key_hash": {"S": "hash-of-k1"}} for p in reads)
    assert ("Query", "by_id") in [(n, p.get("IndexName")) for n, p in calls]


def test_an_expiring_key_carries_a_ttl_a_month_after_expiry(
    store: DynamoKeyStore, dynamodb: Any, key_settings: Settings
) -> None:
    store.add(record(expires_at=T0))
    item = dynamodb.get_item(
        TableName=key_settings.api_keys_table, Key={"key_hash": {"S": "hash-of-k1"}}
    )
    assert int(item["Item"]["ttl"]["N"]) == int((T0 + timedelta(days=30)).timestamp())


def test_saving_replaces_the_item_and_a_deleted_key_cannot_be_saved(store: DynamoKeyStore) -> None:
    store.add(record())
    store.save(record(name="renamed"))
    assert store.get_by_id("k1").name == "renamed"  # type: ignore[union-attr]
    assert store.delete("hash-of-k1") is True
    assert store.delete("hash-of-k1") is False
    with pytest.raises(KeyNotFound):
        store.save(record())


def test_recording_use_never_recreates_a_deleted_key(
    store: DynamoKeyStore, dynamodb: Any, key_settings: Settings
) -> None:
    store.add(record())
    store.record_use("hash-of-k1", T0 + timedelta(minutes=1))
    assert store.get_by_hash("hash-of-k1").last_used_at == T0 + timedelta(minutes=1)  # type: ignore[union-attr]
    store.delete("hash-of-k1")
    store.record_use("hash-of-k1", T0)
    assert dynamodb.scan(TableName=key_settings.api_keys_table)["Items"] == []


def test_listing_reads_every_key(store: DynamoKeyStore) -> None:
    for n in range(30):
        store.add(record(f"k{n}"))
    assert {r.key_id for r in store.list_all()} == {f"k{n}" for n in range(30)}


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttling_and_errors_surface_as_key_store_unavailable(
    key_settings: Settings, code: str
) -> None:
    client = new_dynamodb_client(key_settings)
    store = DynamoKeyStore(lambda: client, key_settings.api_keys_table)
    with Stubber(client) as stubber:
        stubber.add_client_error("get_item", code, http_status_code=400)
        with pytest.raises(KeyStoreUnavailable, match=code):
            store.get_by_hash("h")


def test_a_missing_table_is_key_store_unavailable(dynamodb: Any) -> None:
    store = DynamoKeyStore(lambda: dynamodb, "no-such-table")
    with pytest.raises(KeyStoreUnavailable, match="ResourceNotFound"):
        store.get_by_hash("h")


def audit_event(n: int, key_id: str = "k1") -> AuditEvent:
    return AuditEvent(
        key_id=key_id,
        at=T0 + timedelta(seconds=n),
        request_id=f"req-{n}",
        action="list_api_keys",
        target=None,
        outcome=200,
        method="GET",
        path="/api/v1/admin/api-keys",
        source_ip="203.0.113.9",
        user_agent="curl/8",
    )


def test_audit_events_page_newest_first_with_an_opaque_cursor(audit_log: DynamoAuditLog) -> None:
    for n in range(7):
        audit_log.record(audit_event(n))
    audit_log.record(audit_event(99, key_id="k2"))
    seen, cursor, pages = [], None, 0
    while True:
        page = audit_log.page("k1", limit=3, cursor=cursor)
        seen += [e.request_id for e in page.events]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"req-{n}" for n in reversed(range(7))]
    assert pages == 3


def test_a_full_last_page_says_it_is_the_last(audit_log: DynamoAuditLog) -> None:
    for n in range(4):
        audit_log.record(audit_event(n))
    page = audit_log.page("k1", limit=4)
    assert len(page.events) == 4
    assert page.next_cursor is None


def test_audit_items_expire_after_the_retention_period(
    audit_log: DynamoAuditLog, dynamodb: Any, key_settings: Settings
) -> None:
    audit_log.record(audit_event(0))
    (item,) = dynamodb.scan(TableName=key_settings.api_audit_table)["Items"]
    assert item["sk"]["S"] == "2030-01-02T03:04:05.000000Z#req-0"
    assert int(item["ttl"]["N"]) == int((T0 + timedelta(days=400)).timestamp())


def test_a_forged_cursor_is_refused(audit_log: DynamoAuditLog) -> None:
    with pytest.raises(InvalidCursorError):
        audit_log.page("k1", limit=3, cursor="eyJrZXlfaWQiOiAiazIifQ")


def stored_events(dynamodb: Any, settings: Settings) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=settings.api_audit_table)["Items"]
    return sorted(
        ({k: v.get("S", v.get("N")) for k, v in item.items()} for item in items),
        key=lambda item: item["sk"],
    )


def test_an_event_written_ahead_gets_its_outcome_in_the_same_item(
    audit_log: DynamoAuditLog, dynamodb: Any, key_settings: Settings
) -> None:
    ahead = audit_event(0).model_copy(update={"outcome": None, "method": "DELETE"})
    audit_log.record(ahead)
    (pending,) = stored_events(dynamodb, key_settings)
    assert "outcome" not in pending and pending["method"] == "DELETE"
    assert [e.outcome for e in audit_log.page("k1", limit=5).events] == [None]

    audit_log.record(ahead.model_copy(update={"outcome": 204, "target": "k9"}))
    (done,) = stored_events(dynamodb, key_settings)
    assert (done["outcome"], done["target"], done["sk"]) == ("204", "k9", pending["sk"])


def test_a_finished_event_is_never_rewritten(
    audit_log: DynamoAuditLog, dynamodb: Any, key_settings: Settings
) -> None:
    audit_log.record(audit_event(0))  # outcome 200
    audit_log.record(audit_event(0).model_copy(update={"outcome": 500, "detail": "forged"}))
    audit_log.record(audit_event(0).model_copy(update={"outcome": None}))
    (item,) = stored_events(dynamodb, key_settings)
    assert item["outcome"] == "200" and "detail" not in item


def test_an_audit_write_whose_answer_was_lost_is_retried_and_counts_once(
    key_settings: Settings,
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from market_data.keys.aws import RetryPolicy

    client = new_dynamodb_client(key_settings)
    log = DynamoAuditLog(
        lambda: client,
        key_settings.api_audit_table,
        timedelta(days=400),
        retry=RetryPolicy(3, 5.0),
    )
    lost_answers = [1]

    def lose_the_first_answer(**_: Any) -> None:
        if lost_answers:
            lost_answers.pop()
            raise ReadTimeoutError(endpoint_url="http://dynamodb")  # after the write landed

    client.meta.events.register("after-call.dynamodb.PutItem", lose_the_first_answer)
    log.record(audit_event(0).model_copy(update={"outcome": None}))
    log.record(audit_event(0))
    (event,) = log.page("k1", limit=5).events
    assert event.outcome == 200 and not lost_answers


def test_a_best_effort_audit_write_is_tried_once(key_settings: Settings) -> None:
    from market_data.keys.aws import RetryPolicy

    client = new_dynamodb_client(key_settings)
    log = DynamoAuditLog(
        lambda: client,
        key_settings.api_audit_table,
        timedelta(days=400),
        retry=RetryPolicy(3, 5.0),
    )
    with Stubber(client) as stubber:
        stubber.add_client_error("put_item", "ThrottlingException", http_status_code=400)
        with pytest.raises(KeyStoreUnavailable, match="ThrottlingException"):
            log.record(audit_event(0), best_effort=True)
        stubber.assert_no_pending_responses()
        stubber.add_client_error("put_item", "ThrottlingException", http_status_code=400)
        stubber.add_response("put_item", {})
        log.record(audit_event(1))  # retried
        stubber.assert_no_pending_responses()


def test_the_client_sends_each_call_once_and_leaves_retrying_to_the_key_store(
    key_settings: Settings,
) -> None:
    from tests.dynamo_faults import DynamoFault

    client = new_dynamodb_client(key_settings)
    fault = DynamoFault(client, "throttled")
    fault.active = True
    with pytest.raises(KeyStoreUnavailable, match="ThrottlingException"):
        DynamoKeyStore(lambda: client, key_settings.api_keys_table).get_by_hash("h")
    assert fault.failed_calls == 1
