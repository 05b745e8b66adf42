"""The audit trail: every admin call and every failed authentication.

Table `API_AUDIT_TABLE`: partition key `key_id` (the key that made the call,
or "unknown" when no key could be identified), sort key
`sk` = "<UTC time, microseconds>#<request id>", so a Query with
ScanIndexForward=False pages newest first. Items expire through the TTL
attribute `ttl` after the retention period (400 days by default).

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

from pydantic import BaseModel, ConfigDict

from market_data.errors import InvalidCursorError
from market_data.keys.aws import dynamo_errors
from market_data.keys.store import from_item, iso, to_item

UNKNOWN_KEY = "unknown"
MAX_PAGE = 200
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[\x21-\x7e]{1,128}$")


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    key_id: str
    at: datetime
    request_id: str
    action: str
    target: str | None = None
    outcome: int  # the HTTP status of the response
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
    def record(self, event: AuditEvent) -> None: ...

    def page(self, key_id: str, *, limit: int, cursor: str | None = None) -> AuditPage:
        """Events of one key, newest first; `cursor` continues an earlier page."""


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
    def __init__(self, client: Callable[[], Any], table: str, retention: timedelta) -> None:
        self._client = client
        self.table = table
        self.retention = retention

    def record(self, event: AuditEvent) -> None:
        values = event.model_dump(mode="json")
        values["sk"] = event.sort_key
        values["ttl"] = int((event.at + self.retention).timestamp())
        with dynamo_errors("write audit event"):
            self._client().put_item(TableName=self.table, Item=to_item(values))

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
        with dynamo_errors("read audit events"):
            response = self._client().query(**request)
        items = [from_item(item) for item in response.get("Items", [])]
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = encode_cursor(items[-1]["sk"])
        elif "LastEvaluatedKey" in response:  # the 1 MB page limit cut the query short
            next_cursor = encode_cursor(response["LastEvaluatedKey"]["sk"]["S"])
        return AuditPage([AuditEvent.model_validate(item) for item in items], next_cursor)
