"""RFC 9457 problem details: the one shape every 4xx/5xx body takes.

Domain exceptions (market_data.errors) map to HTTP here, in one place: routes
call the logic and let its errors propagate. ProblemError is for what only
the HTTP layer knows (repeated parameters, authentication).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

from api.correlation import TRACE_HEADER, correlation_id
from market_data.errors import (
    ConflictError,
    DomainError,
    GoneError,
    InvalidRequestError,
    MalformedRequestError,
    NotFoundError,
    UnavailableError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
DB_RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details (extension members allowed)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for an error: its description and the problem schema.

    Routers and routes that describe an error in their own words use this too: a
    bare {"description": ...} would replace the app-wide entry and its content.
    """
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": Problem.model_json_schema()}},
    }


# Declared on the whole app so the OpenAPI document tells clients (and the
# schema fuzzer) every error they can get, and in which shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_doc("Malformed request (e.g. a cursor this API did not issue)"),
    401: problem_doc("Missing, unknown, revoked or expired API key"),
    403: problem_doc("The API key lacks the scope this operation needs"),
    404: problem_doc("No such resource, or no data in the range"),
    422: problem_doc("A parameter or body field is invalid; `errors` lists each one"),
    429: problem_doc("Rate limit exceeded; see Retry-After"),
    500: problem_doc("Unexpected error (details are logged, never returned)"),
    503: problem_doc("A dependency (database, key store) is unavailable; see Retry-After"),
}


# The HTTP status of each group of domain errors (a subclass takes its group's).
DOMAIN_STATUS: dict[type[DomainError], int] = {
    MalformedRequestError: 400,
    NotFoundError: 404,
    ConflictError: 409,
    GoneError: 410,
    InvalidRequestError: 422,
    UnavailableError: 503,
}


def domain_status(error: DomainError) -> int:
    """The status of the error's group (the groups are disjoint); 422 for a bare DomainError."""
    return next((s for group, s in DOMAIN_STATUS.items() if isinstance(error, group)), 422)


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = {
        "type": f"https://market-data-warehouse.dev/problems/{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extensions,
    }
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _validation_message(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
    return f"{where}: {error.get('msg', 'invalid value')}"


_PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# What a mount serves: the dashboard's static files answer GET and HEAD.
_MOUNT_METHODS = ("GET", "HEAD")


def _allowed_methods(request: Request) -> list[str]:
    """Every method the path supports, OPTIONS included when any other is.

    Each top-level route (an included router matches for its own routes) is asked
    whether it fully matches the path with each method: Starlette's 405 lists only
    the methods of the first route whose path matched, and included routers carry
    no method list of their own (that was an empty Allow header).
    """
    # Inside a mount the scope's root_path is the mount's; match from the app's root.
    top = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    scope = {**request.scope, "root_path": top}
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Mount):
            if route.matches(scope)[0] is not Match.NONE:
                methods.update(_MOUNT_METHODS)
            continue
        for method in _PROBED_METHODS:
            if route.matches({**scope, "method": method})[0] is Match.FULL:
                methods.add(method)
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            request, exc.status, exc.detail, slug=exc.slug, headers=exc.headers, **exc.extensions
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        status = domain_status(exc)
        headers = (
            {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, UnavailableError) else None
        )
        return problem_response(
            request, status, exc.detail, slug=exc.slug, headers=headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(_validation_message(e) for e in exc.errors()) or "invalid request"
        return problem_response(request, 422, detail, slug="validation-error", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            methods = _allowed_methods(request)
            headers["Allow"] = ", ".join(methods)
            # OPTIONS asks what the path supports (RFC 9110 9.3.7): the answer, not a 405.
            # A CORS preflight never gets here when CORS is on: the middleware answers it.
            if request.method == "OPTIONS" and methods:
                return Response(status_code=204, headers=headers)
        return problem_response(request, exc.status_code, detail, headers=headers)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _database_down(request: Request, exc: Exception) -> Response:
        logger.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            request,
            503,
            "The database is unavailable; retry shortly.",
            slug="database-unavailable",
            headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # The traceback goes to the log, never to the client.
        logger.exception("unhandled error")
        # Starlette answers this one outside every middleware, so the id is added here.
        headers = {TRACE_HEADER: correlation_id(request)}
        return problem_response(
            request, 500, "An unexpected error occurred.", slug="internal", headers=headers
        )
