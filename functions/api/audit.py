"""The API's audit trail, and the one context a request carries past the key check.

What is written, and when:

- An admin change (any method but GET, HEAD, OPTIONS on a route behind
  `require_scope`) is written *before* its route runs: the key, action, target
  named by the path, request id and no outcome yet (`write_ahead`). If that write
  fails the call is refused with a 503 `audit-unavailable` and the route never
  runs, so nothing changes that the trail does not show. Once the response is
  out, the same item gets its outcome (the status).
- An admin read is written once, after the response, with its outcome.
- A call the key check refused (401 or 403 anywhere; 429 and 503 on admin
  routes) is written after the response with a single attempt, and at most
  API_AUDIT_REFUSALS_IN_FLIGHT at a time per process: callers choose how many
  of those there are, so they must not be able to pile up writes.

A write after the response that fails, or a refusal dropped as one too many, is
logged with the running counts (`AuditRecorder.counts`); the response is out by
then and never changes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.correlation import correlation_id
from api.refusals import Refusal, audit_unavailable
from market_data.errors import KeyStoreUnavailable
from market_data.keys.audit import UNKNOWN_KEY, AuditEvent, AuditLog
from market_data.keys.ratelimit import RateDecision
from market_data.keys.services import KeyServices

logger = logging.getLogger(__name__)

# Methods that change nothing; an admin call with any other is written ahead.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Dropped refusals are logged with their count once per this many.
DROPPED_LOG_EVERY = 100
_CONTEXT_KEY = "mdw.request"


@dataclass(slots=True)
class AuditEntry:
    """A request's audit event until its outcome is known, and the log it goes to."""

    log: AuditLog
    event: AuditEvent  # outcome None until the response is out
    refused: bool  # refused before the route ran: written best effort, bounded
    written_ahead: bool = False


@dataclass(slots=True)
class RequestContext:
    """What the key check decided about one request, for the layers after it.

    One per HTTP request, kept in the ASGI scope's state and reached only through
    `request_context`: the auth dependencies fill it in, the middleware reads it
    when the response starts (rate-limit headers) and once it has ended (audit).
    """

    rate: RateDecision | None = None
    audit: AuditEntry | None = None


def request_context(where: HTTPConnection | Scope) -> RequestContext:
    """This request's context, created on first use."""
    scope = where.scope if isinstance(where, HTTPConnection) else where
    state: dict[str, Any] = scope.setdefault("state", {})
    context = state.get(_CONTEXT_KEY)
    if not isinstance(context, RequestContext):
        context = state[_CONTEXT_KEY] = RequestContext()
    return context


def begin_audit(
    request: Request,
    services: KeyServices,
    *,
    key_id: str | None,
    refusal: Refusal | None = None,
) -> AuditEntry:
    """This request's audit event, short of its outcome, kept in its context."""
    aws_context = (request.scope.get("aws.event") or {}).get("requestContext") or {}
    route = request.scope.get("route")
    event = AuditEvent(
        key_id=key_id or UNKNOWN_KEY,
        at=services.clock(),
        # The correlation id (API Gateway's request id, X-Trace-ID) ties the event to
        # the access log, the function's logs and the response the caller got.
        request_id=correlation_id(request),
        action=getattr(route, "name", None) or f"{request.method} {request.url.path}",
        target=",".join(str(v) for v in request.path_params.values())[:256] or None,
        outcome=None,
        method=request.method,
        path=request.url.path[:512],
        source_ip=(aws_context.get("identity") or {}).get("sourceIp")
        or (request.client.host if request.client else None),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        detail=refusal.detail if refusal is not None else None,
    )
    entry = AuditEntry(services.audit, event, refused=refusal is not None)
    request_context(request).audit = entry
    return entry


def write_ahead(request: Request, entry: AuditEntry) -> None:
    """Record an admin change before it is made; when that fails, refuse it (503)."""
    try:
        entry.log.record(entry.event)
    except KeyStoreUnavailable as exc:
        logger.error("audit trail unavailable, change refused: %s", exc)
        refused = replace(
            entry,
            event=entry.event.model_copy(update={"detail": "audit trail unavailable"}),
            refused=True,
        )
        request_context(request).audit = refused
        raise audit_unavailable() from None
    entry.written_ahead = True


def set_audit_target(request: Request, target: str) -> None:
    """Name what an admin call acted on when the path does not (e.g. a created key)."""
    entry = request_context(request).audit
    if entry is not None:
        entry.event = entry.event.model_copy(update={"target": target[:256]})


@dataclass(slots=True)
class AuditCounts:
    written: int = 0
    lost: int = 0  # the write failed
    dropped: int = 0  # a refusal beyond the in-flight bound, never attempted


class AuditRecorder:
    """Writes each audited request's event with its outcome once the response is out."""

    def __init__(self, refusals_in_flight: int) -> None:
        self.refusals_in_flight = refusals_in_flight
        self.counts = AuditCounts()
        self._in_flight = 0
        self._lock = threading.Lock()  # the writes run in worker threads

    async def finish(self, entry: AuditEntry, status: int) -> None:
        event = entry.event.model_copy(update={"outcome": status})
        if not entry.refused:
            await run_in_threadpool(self._write, entry, event)
            return
        with self._lock:
            admitted = self._in_flight < self.refusals_in_flight
            if admitted:
                self._in_flight += 1
        if not admitted:
            self._drop(event)
            return
        try:
            await run_in_threadpool(self._write, entry, event)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _write(self, entry: AuditEntry, event: AuditEvent) -> None:
        try:
            entry.log.record(event, best_effort=entry.refused)
        except Exception:  # the response is already out; never fail it afterwards
            with self._lock:
                self.counts.lost += 1
                lost, dropped = self.counts.lost, self.counts.dropped
            what = "outcome lost (the event says the change was attempted)"
            logger.exception(
                "audit event %s: %s %s by %s -> %s; %d lost, %d dropped since start",
                what if entry.written_ahead else "lost",
                event.method,
                event.path,
                event.key_id,
                event.outcome,
                lost,
                dropped,
            )
        else:
            with self._lock:
                self.counts.written += 1

    def _drop(self, event: AuditEvent) -> None:
        with self._lock:
            self.counts.dropped += 1
            lost, dropped = self.counts.lost, self.counts.dropped
        # A flood is what gets refusals dropped: one line per hundred, not per request.
        if dropped == 1 or dropped % DROPPED_LOG_EVERY == 0:
            logger.error(
                "audit events dropped, more refusals than %d at a time (latest: %s %s -> %s); "
                "%d lost, %d dropped since start",
                self.refusals_in_flight,
                event.method,
                event.path,
                event.outcome,
                lost,
                dropped,
            )


class AuditMiddleware:
    """Hands each audited request's event, with the response status, to the recorder.

    A pure ASGI middleware (not BaseHTTPMiddleware) so it sees the error responses
    of the exception handlers too and does not buffer bodies.
    """

    def __init__(self, app: ASGIApp, recorder: AuditRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = request_context(scope)  # created here, so every layer below shares it
        status = 500  # unless a response starts: an unhandled error

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            if context.audit is not None:
                await self.recorder.finish(context.audit, status)
