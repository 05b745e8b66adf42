"""Who may call what: the X-API-Key check and the scope a route needs.

Routes depend on `AdminKey` (`require_admin`, which is `require_scope(Scope.ADMIN)`)
and get the caller's `Principal`; the public /api/v1 data routers carry
READ_ACCESS, which lets anonymous callers through unless REQUIRE_READ_KEY is on.
A key that is presented is always checked, so a bad key is a 401 even where no
key is needed.

A keyed request goes: authenticate (401, or 503 when the key store fails) ->
scope (403) -> rate limit (api.rate_limit: 429, or 503) -> for admin routes,
the audit event (api.audit: changes are written before the route runs, 503
when that fails). Each step raises a `Refusal` (api.refusals) and knows nothing
of the request; the dependencies here put the verdict into the request's
context, once. Authentication fails closed: no DynamoDB answer, no access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.audit import (
    READ_METHODS,
    AuditMiddleware,
    AuditRecorder,
    begin_audit,
    request_context,
    write_ahead,
)
from api.deps import SettingsDep
from api.problems import problem_doc, problem_response
from api.rate_limit import RateLimitHeaders, count_request
from api.refusals import (
    KEY_HEADER,
    Refusal,
    forbidden,
    key_store_down,
    key_store_refusal,
    unauthorized,
)
from market_data.errors import KeyRejected, KeyStoreUnavailable
from market_data.keys.models import ApiKeyRecord, Principal
from market_data.keys.models import Scope as KeyScope
from market_data.keys.services import KeyServices, dynamo_services
from market_data.settings import Settings

api_key_header = APIKeyHeader(
    name=KEY_HEADER,
    scheme_name="ApiKey",
    description="An API key (mdw_...). Admin routes need the admin scope.",
    auto_error=False,  # refusals are ours: problem+json with the right status
)

# The refusals every admin route can answer with, for the admin routers' OpenAPI.
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_doc("Missing, unknown, revoked or expired key"),
    403: problem_doc("The key lacks the admin scope"),
    429: problem_doc("The key's rate limit is exhausted"),
    503: problem_doc("The key store or the audit trail is unavailable; see Retry-After"),
}


async def get_key_services(request: Request) -> KeyServices:
    """The key services the app was built with (tests override this dependency)."""
    services: KeyServices = request.app.state.key_services
    return services


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


def authenticate(services: KeyServices, presented: str | None) -> ApiKeyRecord:
    """The presented key's record, if it is a valid key; Refusal (401 or 503) if not."""
    try:
        return services.authenticator.authenticate(presented)
    except KeyRejected as exc:
        raise unauthorized(exc.reason, exc.key_id) from None
    except KeyStoreUnavailable as exc:
        raise key_store_refusal(exc, "key store") from None


def authorize(record: ApiKeyRecord, scope: KeyScope | None) -> Principal:
    """The caller, if the key holds `scope` (any key when None); Refusal (403) if not."""
    principal = Principal.of(record)
    if scope is not None and not principal.has(scope):
        raise forbidden(scope, record.key_id)
    return principal


def _admit(
    request: Request,
    services: KeyServices,
    presented: str | None,
    scope: KeyScope | None,
    *,
    audited: bool,
) -> Principal:
    """Authenticate, authorise and count one request, and note the verdict in its context.

    `audited`: every call is audited (admin routes); otherwise only failed
    authentication is.
    """
    context = request_context(request)
    try:
        record = authenticate(services, presented)
        principal = authorize(record, scope)
        context.rate = count_request(services, record)
    except Refusal as refusal:
        context.rate = refusal.rate
        if audited or refusal.failed_authentication:
            begin_audit(request, services, key_id=refusal.key_id, refusal=refusal)
        raise refusal.problem from None
    if audited:
        entry = begin_audit(request, services, key_id=principal.key_id)
        if request.method not in READ_METHODS:
            write_ahead(request, entry)  # no audit event, no change
    return principal


def require_scope(scope: KeyScope) -> Callable[..., Principal]:
    """A dependency letting in keys that hold `scope`; every call it guards is audited.

    Calls that change something are written to the audit trail before the route
    runs; when that fails they are refused (503) and the route never runs. Make
    one per scope and share it: FastAPI runs a dependency once per request only
    when it is the same callable.
    """

    def require(
        request: Request, services: KeyServicesDep, api_key: PresentedKey = None
    ) -> Principal:
        return _admit(request, services, api_key, scope, audited=True)

    require.__name__ = f"require_{scope}"
    return require


require_admin = require_scope(KeyScope.ADMIN)
AdminKey = Annotated[Principal, Depends(require_admin)]


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
    return await run_in_threadpool(_admit, request, services, api_key, needed, audited=False)


# For the public data routers: app.include_router(router, dependencies=READ_ACCESS).
READ_ACCESS: tuple[Any, ...] = (Depends(read_access),)


async def _key_store_unavailable(request: Request, exc: Exception) -> Response:
    """503 for a key-store failure inside an admin route (listing keys, say)."""
    problem = key_store_down(exc if isinstance(exc, KeyStoreUnavailable) else KeyStoreUnavailable())
    return problem_response(
        request, problem.status, problem.detail, slug=problem.slug, headers=problem.headers
    )


def install_key_access(app: FastAPI, settings: Settings) -> None:
    """Key services and the audit recorder on app.state; their middleware and 503 handler.

    The services are built here from the app's settings and do no I/O until a
    key is first checked.
    """
    app.state.key_services = dynamo_services(settings)
    app.state.audit_recorder = AuditRecorder(settings.api_audit_refusals_in_flight)
    app.add_exception_handler(KeyStoreUnavailable, _key_store_unavailable)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(AuditMiddleware, recorder=app.state.audit_recorder)
