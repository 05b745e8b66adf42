"""Who may call what: the X-API-Key check, per-key rate limits and the audit trail.

Routes depend on `AdminKey` (admin scope) and get the caller's `Principal`;
the public /api/v1 data routers carry `read_access`, which lets anonymous
callers through unless REQUIRE_READ_KEY is on. A key that is presented is
always checked, so a bad key is a 401 even where no key is needed.

Refusals: missing/unknown/revoked/expired key -> 401, missing scope -> 403,
over the key's rate -> 429, key store failing -> 503. Authentication fails
closed: no DynamoDB answer, no access.

`KeyAccessMiddleware` adds the X-RateLimit-* headers to every keyed response
(errors included) and writes one audit item per admin call and per failed
authentication, with the final status, after the response is produced.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SettingsDep
from api.problems import ProblemError, problem_response
from market_data.errors import KeyRejected, KeyStoreUnavailable, RejectReason
from market_data.keys.audit import UNKNOWN_KEY, AuditEvent, AuditLog
from market_data.keys.models import Principal
from market_data.keys.models import Scope as KeyScope
from market_data.keys.ratelimit import RateDecision
from market_data.keys.services import KeyServices, dynamo_services

logger = logging.getLogger(__name__)

KEY_HEADER = "X-API-Key"
CHALLENGE = f'ApiKey realm="market-data-warehouse", header="{KEY_HEADER}"'
KEY_STORE_RETRY_AFTER_SECONDS = 5
_AUDIT_STATE = "mdw_audit"
_RATE_STATE = "mdw_rate_limit"
_SAFE_TOKEN = re.compile(r"[^\x21-\x7e]")

api_key_header = APIKeyHeader(
    name=KEY_HEADER,
    scheme_name="ApiKey",
    description="An API key (mdw_...). Admin routes need the admin scope.",
    auto_error=False,  # refusals are ours: problem+json with the right status
)

_REJECTED: dict[RejectReason, str] = {
    "missing": f"The {KEY_HEADER} header is required.",
    "malformed": "The API key is not valid.",
    "unknown": "The API key is not valid.",
    "revoked": "The API key has been revoked.",
    "expired": "The API key has expired.",
}

_services: KeyServices | None = None
_services_lock = threading.Lock()


async def get_key_services(settings: SettingsDep) -> KeyServices:
    """The process-wide key services (tests override this dependency); no I/O here."""
    global _services
    with _services_lock:
        if _services is None:
            _services = dynamo_services(settings)
        return _services


KeyServicesDep = Annotated[KeyServices, Depends(get_key_services)]
PresentedKey = Annotated[str | None, Security(api_key_header)]
# On the public routes the key is optional, which OpenAPI security cannot say
# (FastAPI would mark the routes as requiring it), so it is a plain header there.
OptionalKey = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        description="Optional unless REQUIRE_READ_KEY is on; then a key with the read scope.",
    ),
]


@dataclass
class PendingAudit:
    """An audit event waiting for the response status; written by the middleware."""

    log: AuditLog
    at: datetime
    action: str
    method: str
    path: str
    request_id: str
    source_ip: str | None
    user_agent: str | None
    target: str | None
    key_id: str = UNKNOWN_KEY
    detail: str | None = None

    def write(self, status: int) -> None:
        event = AuditEvent(
            key_id=self.key_id,
            at=self.at,
            request_id=self.request_id,
            action=self.action,
            target=self.target,
            outcome=status,
            method=self.method,
            path=self.path,
            source_ip=self.source_ip,
            user_agent=self.user_agent,
            detail=self.detail,
        )
        try:
            self.log.record(event)
        except Exception:  # the response is already out; never fail it afterwards
            logger.exception(
                "audit event lost: %s %s by %s -> %s", self.method, self.path, self.key_id, status
            )


def _token(value: str | None, limit: int) -> str | None:
    """Printable ASCII only and at most `limit` characters: it becomes part of a sort key."""
    cleaned = _SAFE_TOKEN.sub("", value or "")[:limit]
    return cleaned or None


def _begin_audit(request: Request, services: KeyServices) -> PendingAudit:
    existing: PendingAudit | None = getattr(request.state, _AUDIT_STATE, None)
    if existing is not None:
        return existing
    context = (request.scope.get("aws.event") or {}).get("requestContext") or {}
    route = request.scope.get("route")
    path_params = request.path_params
    pending = PendingAudit(
        log=services.audit,
        at=services.clock(),
        action=getattr(route, "name", None) or f"{request.method} {request.url.path}",
        method=request.method,
        path=request.url.path[:512],
        # API Gateway's request id ties the event to its access log and traces.
        request_id=_token(context.get("requestId"), 128) or uuid.uuid4().hex,
        source_ip=(context.get("identity") or {}).get("sourceIp")
        or (request.client.host if request.client else None),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        target=",".join(str(v) for v in path_params.values())[:256] or None,
    )
    setattr(request.state, _AUDIT_STATE, pending)
    return pending


def set_audit_target(request: Request, target: str) -> None:
    """Name what an admin call acted on when the path does not (e.g. a created key)."""
    pending: PendingAudit | None = getattr(request.state, _AUDIT_STATE, None)
    if pending is not None:
        pending.target = target[:256]


def _key_store_down(exc: KeyStoreUnavailable) -> ProblemError:
    logger.error("key store unavailable: %s", exc)
    return ProblemError(
        503,
        "API keys cannot be checked right now; retry shortly.",
        slug="key-store-unavailable",
        headers={"Retry-After": str(KEY_STORE_RETRY_AFTER_SECONDS)},
    )


def _check_key(
    request: Request,
    services: KeyServices,
    presented: str | None,
    scope: KeyScope | None,
    audit: PendingAudit | None,
) -> Principal:
    """Authenticate, authorise and count one request. `audit` is None on public routes,
    where only failed authentication is recorded."""
    try:
        record = services.authenticator.authenticate(presented)
    except KeyRejected as exc:
        failed = audit or _begin_audit(request, services)
        failed.key_id = exc.key_id or UNKNOWN_KEY
        failed.detail = f"key {exc.reason}"
        raise ProblemError(
            401, _REJECTED[exc.reason], slug="unauthorized", headers={"WWW-Authenticate": CHALLENGE}
        ) from None
    except KeyStoreUnavailable as exc:
        if audit is not None:
            audit.detail = "key store unavailable"
        raise _key_store_down(exc) from None
    if audit is not None:
        audit.key_id = record.key_id
    principal = Principal.of(record)
    if scope is not None and not principal.has(scope):
        failed = audit or _begin_audit(request, services)
        failed.key_id = record.key_id
        failed.detail = f"scope {scope} missing"
        raise ProblemError(
            403,
            f"This API key lacks the '{scope}' scope.",
            slug="forbidden",
            headers={
                "WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'
            },
        )
    try:
        decision = services.rate_limiter.check(record)
    except KeyStoreUnavailable as exc:
        if audit is not None:
            audit.detail = "rate limiter unavailable"
        raise _key_store_down(exc) from None
    setattr(request.state, _RATE_STATE, decision)
    if not decision.allowed:
        if audit is not None:
            audit.detail = "rate limited"
        raise ProblemError(
            429,
            f"This API key is limited to {decision.limit} requests per minute.",
            slug="rate-limited",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return principal


def require_admin(
    request: Request, services: KeyServicesDep, api_key: PresentedKey = None
) -> Principal:
    """The caller's key, which must hold the admin scope. Every call is audited."""
    audit = _begin_audit(request, services)
    return _check_key(request, services, api_key, KeyScope.ADMIN, audit)


async def read_access(
    request: Request,
    settings: SettingsDep,
    services: KeyServicesDep,
    api_key: OptionalKey = None,
) -> Principal | None:
    """Public data routes: open unless REQUIRE_READ_KEY; a presented key is always checked.

    Async so an anonymous read costs no worker-thread hand-off; the key check
    itself talks to DynamoDB, so it goes to the thread pool.
    """
    if not api_key and not settings.require_read_key:
        return None
    needed = KeyScope.READ if settings.require_read_key else None
    return await run_in_threadpool(_check_key, request, services, api_key, needed, None)


AdminKey = Annotated[Principal, Depends(require_admin)]


class KeyAccessMiddleware:
    """Rate-limit headers on keyed responses; pending audit events written with the status.

    A pure ASGI middleware (not BaseHTTPMiddleware) so it sees error responses
    from the exception handlers too and does not buffer bodies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Created here so every layer below shares this one dict.
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        async def send_with_limits(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                decision: RateDecision | None = state.get(_RATE_STATE)
                if decision is not None:
                    headers = MutableHeaders(scope=message)
                    for name, value in decision.headers().items():
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_limits)
        finally:
            pending: PendingAudit | None = state.get(_AUDIT_STATE)
            if pending is not None:
                await run_in_threadpool(pending.write, status)


def install_key_access(app: FastAPI) -> None:
    """The middleware, and 503 for key-store failures inside admin routes."""

    async def key_store_unavailable(request: Request, exc: Exception) -> Response:
        problem = _key_store_down(
            exc if isinstance(exc, KeyStoreUnavailable) else KeyStoreUnavailable()
        )
        return problem_response(
            request, problem.status, problem.detail, slug=problem.slug, headers=problem.headers
        )

    app.add_exception_handler(KeyStoreUnavailable, key_store_unavailable)
    app.add_middleware(KeyAccessMiddleware)


# For the public data routers: app.include_router(router, dependencies=READ_ACCESS).
READ_ACCESS: tuple[Any, ...] = (Depends(read_access),)
