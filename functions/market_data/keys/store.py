"""The key store: a Protocol the logic depends on, and its DynamoDB adapter.

Table `API_KEYS_TABLE`: partition key `key_hash` (S, HMAC of the key), GSI
`by_id` on `key_id` (S), TTL attribute `ttl` (set on keys that expire, so they
disappear EXPIRED_KEY_RETENTION after expiry). Reads by hash are strongly
consistent, so a revocation is visible to the next lookup that misses the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from market_data.errors import KeyNotFound
from market_data.keys.aws import SINGLE_ATTEMPT, RetryPolicy, is_conditional_check_failure
from market_data.keys.models import ApiKeyRecord

BY_ID_INDEX = "by_id"
EXPIRED_KEY_RETENTION = timedelta(days=30)

_codec: tuple[Any, Any] | None = None


def _types() -> tuple[Any, Any]:
    """boto3's DynamoDB (de)serializer, imported on first use (boto3 is slow to import)."""
    global _codec
    if _codec is None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        _codec = (TypeSerializer(), TypeDeserializer())
    return _codec


class KeyStore(Protocol):
    def add(self, record: ApiKeyRecord) -> None:
        """Store a new key (its hash must not exist yet)."""

    def save(self, record: ApiKeyRecord) -> None:
        """Replace an existing key's item; KeyNotFound when it is gone."""

    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...

    def get_by_id(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_all(self) -> list[ApiKeyRecord]: ...

    def delete(self, key_hash: str) -> bool:
        """Remove a key; False when it did not exist."""

    def record_use(self, key_hash: str, when: datetime) -> None: ...


def iso(when: datetime) -> str:
    """UTC ISO 8601 with "Z", the form pydantic writes, so stored times sort as text."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict as a DynamoDB item (None values left out)."""
    serializer = _types()[0]
    return {k: serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = _types()[1]
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def _record_item(record: ApiKeyRecord) -> dict[str, Any]:
    values = record.model_dump(mode="json")
    if record.expires_at is not None:
        values["ttl"] = int((record.expires_at + EXPIRED_KEY_RETENTION).timestamp())
    return to_item(values)


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    values = from_item(item)
    values.pop("ttl", None)
    return ApiKeyRecord.model_validate(values)


class DynamoKeyStore:
    """KeyStore on DynamoDB. Every failure surfaces as KeyStoreUnavailable."""

    def __init__(
        self, client: Callable[[], Any], table: str, *, retry: RetryPolicy = SINGLE_ATTEMPT
    ) -> None:
        self._client = client  # a factory, so building the store does no I/O
        self.table = table
        self._retry = retry

    def add(self, record: ApiKeyRecord) -> None:
        self._retry.run(
            "store key",
            lambda: self._client().put_item(
                TableName=self.table,
                Item=_record_item(record),
                ConditionExpression="attribute_not_exists(key_hash)",
            ),
        )

    def save(self, record: ApiKeyRecord) -> None:
        self._retry.run("update key", lambda: self._put_existing(record))

    def _put_existing(self, record: ApiKeyRecord) -> None:
        try:
            self._client().put_item(
                TableName=self.table,
                Item=_record_item(record),
                ConditionExpression="attribute_exists(key_hash)",
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                raise KeyNotFound(record.key_id) from exc
            raise

    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        response = self._retry.run(
            "read key",
            lambda: self._client().get_item(
                TableName=self.table, Key={"key_hash": {"S": key_hash}}, ConsistentRead=True
            ),
        )
        item = response.get("Item")
        return _record(item) if item else None

    def get_by_id(self, key_id: str) -> ApiKeyRecord | None:
        # The index is eventually consistent, so it only finds the hash; the
        # item itself is then read consistently from the table.
        response = self._retry.run(
            "find key",
            lambda: self._client().query(
                TableName=self.table,
                IndexName=BY_ID_INDEX,
                KeyConditionExpression="key_id = :id",
                ExpressionAttributeValues={":id": {"S": key_id}},
            ),
        )
        for item in response.get("Items", []):
            record = self.get_by_hash(item["key_hash"]["S"])
            if record is not None:
                return record
        return None

    def list_all(self) -> list[ApiKeyRecord]:
        # A scan is fine here: admins list keys rarely and there are few of them.
        return self._retry.run("list keys", self._scan)

    def _scan(self) -> list[ApiKeyRecord]:
        records: list[ApiKeyRecord] = []
        for page in self._client().get_paginator("scan").paginate(TableName=self.table):
            records.extend(_record(item) for item in page.get("Items", []))
        return records

    def delete(self, key_hash: str) -> bool:
        try:
            self._retry.run("delete key", lambda: self._delete(key_hash))
        except KeyNotFound:
            return False
        return True

    def _delete(self, key_hash: str) -> None:
        try:
            self._client().delete_item(
                TableName=self.table,
                Key={"key_hash": {"S": key_hash}},
                ConditionExpression="attribute_exists(key_hash)",
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                raise KeyNotFound(key_hash) from exc
            raise

    def record_use(self, key_hash: str, when: datetime) -> None:
        # One attempt: the time is informational, and it is written on the way to
        # answering a keyed request.
        with suppress(KeyNotFound):  # deleted meanwhile: nothing to record
            SINGLE_ATTEMPT.run("record key use", lambda: self._touch(key_hash, when))

    def _touch(self, key_hash: str, when: datetime) -> None:
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"key_hash": {"S": key_hash}},
                UpdateExpression="SET last_used_at = :t",
                # Never recreate a deleted key as a bare item.
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":t": {"S": iso(when)}},
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                raise KeyNotFound(key_hash) from exc
            raise
