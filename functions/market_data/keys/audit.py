"""The audit trail: every admin call and every failed authentication.

Table `API_AUDIT_TABLE`: partition key `key_id` (the key that made the call,
or "unknown" when no key could be identified), sort key
`sk` = "<UTC time, microseconds>#<request id>", so a Query with
ScanIndexForward=False pages newest first. Items expire through the TTL
attribute `ttl` after the retention period (400 days by default).

An admin change is written twice under one key: without `outcome` before the
change is made, then with its outcome, replacing that item. Every put is
conditional: a new event never replaces anything, and an outcome only fills in
an event that has none, so a finished event is never rewritten (IAM gives the
API PutItem, GetItem and Query on this table, nothing that updates or deletes).
An event left without an outcome was let through and its result was lost:
take it as possibly done.

Deleting a key keeps its trail: the events say what the key did, which is
still worth knowing after it is gone; the TTL removes them in due course.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from market_data.errors import InvalidCursorError
from market_data.keys.aws import SINGLE_ATTEMPT, RetryPolicy, is_conditional_check_failure
from market_data.keys.store import from_item, iso, to_item

UNKNOWN_KEY = "unknown"
MAX_PAGE = 200
# DynamoDB has no OFFSET: each event an offset skips is read and dropped, so the
# offset is capped to bound that work (a cursor costs nothing however deep it is).
MAX_OFFSET = 10_000
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[\x21-\x7e]{1,128}$")


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    at: datetime
    request_id: str
    action: str
    target: str | None = None
    # The HTTP status of the response; None while an admin change is under way
    # (the event is written before the change is made) or if its result was lost.
    outcome: int | None = None
    method: str
    path: str
    source_ip: str | None = None
    user_agent: str | None = None
    detail: str | None = None  # e.g. why authentication failed; never the key

    @property
    def sort_key(self) -> str:
        # Fixed width (always microseconds) so text order is time order.
        return f"{iso(self.at)[:19]}.{self.at.microsecond:06d}Z#{self.request_id}"


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


class AuditLog(Protocol):
    def record(self, event: AuditEvent, *, best_effort: bool = False) -> None:
        """Write the event: a new one, or the outcome of one written without it.

        `best_effort`: one attempt, no retries (for events of refused calls,
        whose number the caller chooses). KeyStoreUnavailable when it failed.
        """

    def page(self, key_id: str, *, limit: int, cursor: str | None = None) -> AuditPage:
        """Events of one key, newest first; `cursor` continues an earlier page."""


def page_at_offset(log: AuditLog, key_id: str, *, limit: int, offset: int) -> AuditPage:
    """The page that starts `offset` events in (newest first), as the replaced API paged.

    The skipped events are read in pages of MAX_PAGE and dropped; next_cursor goes
    on from the page, so a client can switch to cursors from there.
    """
    cursor: str | None = None
    remaining = min(max(offset, 0), MAX_OFFSET)
    while remaining:
        skipped = log.page(key_id, limit=min(remaining, MAX_PAGE), cursor=cursor)
        remaining -= len(skipped.events)
        cursor = skipped.next_cursor
        if cursor is None or not skipped.events:
            return AuditPage([], None)  # the trail is shorter than the offset
    return log.page(key_id, limit=limit, cursor=cursor)


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor stands for; InvalidCursorError when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError() from exc
    if not _SORT_KEY.match(text):
        raise InvalidCursorError()
    return text


class DynamoAuditLog:
    def __init__(
        self,
        client: Callable[[], Any],
        table: str,
        retention: timedelta,
        *,
        retry: RetryPolicy = SINGLE_ATTEMPT,
    ) -> None:
        self._client = client
        self.table = table
        self.retention = retention
        self._retry = retry

    def record(self, event: AuditEvent, *, best_effort: bool = False) -> None:
        values = event.model_dump(mode="json")
        values["sk"] = event.sort_key
        values["ttl"] = int((event.at + self.retention).timestamp())
        retry = SINGLE_ATTEMPT if best_effort else self._retry
        retry.run("write audit event", lambda: self._put(to_item(values), event.outcome))

    def _put(self, item: dict[str, Any], outcome: int | None) -> None:
        # Without an outcome the event is new; with one it creates its item or
        # completes the one written ahead, and never replaces a finished event.
        condition = f"attribute_not_exists({'sk' if outcome is None else 'outcome'})"
        try:
            self._client().put_item(TableName=self.table, Item=item, ConditionExpression=condition)
        except ClientError as exc:
            # The sort key holds the request id, so only a retry of this very write
            # meets its own item: the earlier attempt landed, its answer was lost.
            if not is_conditional_check_failure(exc):
                raise

    def page(self, key_id: str, *, limit: int, cursor: str | None = None) -> AuditPage:
        limit = max(1, min(limit, MAX_PAGE))
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "key_id = :k",
            "ExpressionAttributeValues": {":k": {"S": key_id}},
            "ScanIndexForward": False,
            # One more than asked, so the last page says it is the last.
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = {
                "key_id": {"S": key_id},
                "sk": {"S": decode_cursor(cursor)},
            }
        response = self._retry.run("read audit events", lambda: self._client().query(**request))
        items = [from_item(item) for item in response.get("Items", [])]
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1]["sk"])
        elif "LastEvaluatedKey" in response:  # the 1 MB page limit cut the query short
            next_cursor = encode_cursor(response["LastEvaluatedKey"]["sk"]["S"])
        return AuditPage([AuditEvent.model_validate(item) for item in items], next_cursor)
