"""DynamoDB failing on demand: faults injected into a real botocore client on moto.

The fault answers before the request leaves ("before-send"), so the key store's
own retries and backoff run as they would against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

KINDS = ("throttled", "over capacity", "internal error", "unreachable")


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


class DynamoFault:
    """Makes the DynamoDB calls of one client fail in a chosen way while `active`.

    `table` limits the fault to calls on that table (the others go through);
    `passes` lets that many of the calls it would fail through first.
    """

    def __init__(
        self, client: Any, kind: str, *, table: str | None = None, passes: int = 0
    ) -> None:
        self.client, self.kind, self.table = client, kind, table
        self.passes = passes
        self.active = False
        self.failed_calls = 0
        client.meta.events.register("before-send.dynamodb", self._intercept)

    def _intercept(self, request: Any, **_: Any) -> AWSResponse | None:
        if not self.active:
            return None
        if self.table is not None and json.loads(request.body).get("TableName") != self.table:
            return None
        if self.passes > 0:
            self.passes -= 1
            return None
        self.failed_calls += 1
        if self.kind == "unreachable":
            raise EndpointConnectionError(endpoint_url=request.url)
        code, status = {
            "throttled": ("ThrottlingException", 400),
            "internal error": ("InternalServerError", 500),
            "over capacity": ("ProvisionedThroughputExceededException", 400),
        }[self.kind]
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "x"})
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Body(body.encode()))

    def close(self) -> None:
        self.client.meta.events.unregister("before-send.dynamodb", self._intercept)
