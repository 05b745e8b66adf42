"""Each request's correlation id, and the X-Trace-ID header that hands it back.

The id is API Gateway's request id when there is one (the Lambda's JSON logs
carry it as `correlation_id`, its access log as `requestId`), else a fresh
random one (make dev, tests). The audit trail records it as the event's
`request_id`, so one id finds a call in the logs, the access log and the trail.

A client's own X-Trace-ID is not taken over: the id becomes part of an audit
event's sort key, which no caller should be able to choose.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TRACE_HEADER = "X-Trace-ID"
_SCOPE_KEY = "mdw.correlation_id"
_PRINTABLE = re.compile(r"[^\x21-\x7e]")
MAX_LENGTH = 128


def _gateway_request_id(scope: Scope) -> str | None:
    context = (scope.get("aws.event") or {}).get("requestContext") or {}
    cleaned = _PRINTABLE.sub("", str(context.get("requestId") or ""))[:MAX_LENGTH]
    return cleaned or None


def correlation_id(scope: Scope | Any) -> str:
    """This request's id (a Request or its scope): set once, by the outermost layer."""
    scope = getattr(scope, "scope", scope)
    found = scope.get(_SCOPE_KEY)
    if isinstance(found, str):
        return found
    value = _gateway_request_id(scope) or uuid.uuid4().hex
    scope[_SCOPE_KEY] = value
    return value


class CorrelationMiddleware:
    """Outermost layer: gives the request its id and puts X-Trace-ID on every response.

    The id goes into the scope the app was called with, in place, so that the
    500 handler (which Starlette runs outside every middleware) finds it too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = correlation_id(scope)

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[TRACE_HEADER] = trace
            await send(message)

        await self.app(scope, receive, send_with_trace)
