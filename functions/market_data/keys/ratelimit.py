"""Per-key request limits: a fixed one-minute window counted atomically in DynamoDB.

Table `RATE_LIMIT_TABLE`: partition key `pk` = "<key_id>#<window start, epoch s>",
attribute `n` (requests so far), TTL `ttl` shortly after the window ends. One
conditional UpdateItem per request both counts and decides, so concurrent
Lambda instances share one exact count and a refused request is not counted.

A key's limit is its own `rate_limit_per_minute` when set, else the largest
default among its scopes (read 600/min, admin 120/min): an admin-only key is
held to the admin rate, a read key to the read rate, wherever it calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from market_data.keys.aws import SINGLE_ATTEMPT, RetryPolicy, is_conditional_check_failure
from market_data.keys.models import ApiKeyRecord, Scope

WINDOW_SECONDS = 60
# Counters are useless once their window is over; keep them a little longer
# than that so clock skew between instances never resets a live window.
COUNTER_GRACE_SECONDS = 120
# Settings (RATE_LIMIT_READ_PER_MINUTE, RATE_LIMIT_ADMIN_PER_MINUTE) override these.
DEFAULT_LIMITS = {Scope.READ: 600, Scope.ADMIN: 120}
# Reset is epoch seconds, as GitHub's API sends it.
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window (and the count) resets
    retry_after: int  # seconds until then, at least 1

    def headers(self) -> dict[str, str]:
        values = (self.limit, self.remaining, self.reset_at)
        return {name: str(value) for name, value in zip(RATE_LIMIT_HEADERS, values, strict=True)}


class RateCounter(Protocol):
    def increment(self, bucket: str, *, limit: int, expires_at: int) -> int | None:
        """Add one to the bucket unless it already holds `limit`.

        Returns the new count, or None when the bucket was full.
        """


class RateLimiter:
    def __init__(
        self,
        counter: RateCounter,
        clock: Callable[[], datetime],
        defaults: Mapping[Scope, int],
    ) -> None:
        self._counter = counter
        self._clock = clock
        self.defaults = dict(defaults)

    def limit_for(self, record: ApiKeyRecord) -> int:
        if record.rate_limit_per_minute is not None:
            return record.rate_limit_per_minute
        return max((self.defaults[s] for s in record.scopes), default=min(self.defaults.values()))

    def check(self, record: ApiKeyRecord) -> RateDecision:
        """Count one request for the key; KeyStoreUnavailable when DynamoDB fails."""
        now = self._clock().timestamp()
        window_start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        reset_at = window_start + WINDOW_SECONDS
        limit = self.limit_for(record)
        count = self._counter.increment(
            f"{record.key_id}#{window_start}",
            limit=limit,
            expires_at=reset_at + COUNTER_GRACE_SECONDS,
        )
        retry_after = max(1, math.ceil(reset_at - now))
        if count is None:
            return RateDecision(False, limit, 0, reset_at, retry_after)
        return RateDecision(True, limit, max(0, limit - count), reset_at, retry_after)


class DynamoRateCounter:
    def __init__(
        self, client: Callable[[], Any], table: str, *, retry: RetryPolicy = SINGLE_ATTEMPT
    ) -> None:
        self._client = client
        self.table = table
        self._retry = retry

    def increment(self, bucket: str, *, limit: int, expires_at: int) -> int | None:
        try:
            return self._retry.run(
                "count request", lambda: self._increment(bucket, limit, expires_at)
            )
        except _Full:
            return None

    def _increment(self, bucket: str, limit: int, expires_at: int) -> int:
        try:
            response = self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": bucket}},
                UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(expires_at)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                raise _Full from exc
            raise
        return int(response["Attributes"]["n"]["N"])


class _Full(Exception):
    pass
