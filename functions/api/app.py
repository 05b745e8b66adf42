"""The FastAPI application: routers, problem handlers, CORS and the dashboard."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import READ_ACCESS, install_key_access
from api.correlation import TRACE_HEADER, CorrelationMiddleware
from api.deps import refuse_ambiguous_requests
from api.problems import PROBLEM_RESPONSES, install_problem_handlers
from market_data import __version__
from market_data.keys.ratelimit import RATE_LIMIT_HEADERS
from market_data.settings import Settings

DASHBOARD_DIR = Path(__file__).parent / "static"
# Any port on the loopback interface (CORS_ALLOW_LOOPBACK; the local stage's default).
LOOPBACK_ORIGINS = r"https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?"


class StagePrefixMiddleware:
    """Serve /docs, /openapi.json and /dashboard correctly behind an API Gateway stage.

    API Gateway strips "/prod" from the path it hands the Lambda, but the browser
    still needs it in links and redirects. Per the ASGI spec, root_path is the
    mount prefix and path the full path, so the stage goes back into both; it is
    read from each event, so any stage name (or none, behind a custom domain) works.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = (scope.get("aws.event") or {}).get("requestContext") or {}
        stage, full_path = context.get("stage"), context.get("path") or ""
        if scope["type"] == "http" and stage and full_path.startswith(f"/{stage}/"):
            prefix = f"/{stage}"
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"], "raw_path": None}
        await self.app(scope, receive, send)


# The routers (modules of api.routes) in the order requests are matched against them
# and the OpenAPI document lists them, with whether the public read access guards them.
ROUTERS: tuple[tuple[str, bool], ...] = (
    ("meta", False),
    ("warehouse", True),
    ("historical", True),
    ("corporate_actions", True),
    ("bars", True),
    ("gaps", True),
    ("exports", True),
    ("admin_keys", False),
    ("admin_symbols", False),
    ("admin_backfill", False),
    ("retired", False),
)
# Imported when the app is built: what a fresh process's first request, a page of
# bars, needs. The rest are imported on the first request they could serve.
EAGER_ROUTERS = frozenset({"historical"})


class App(FastAPI):
    """FastAPI with the routers other than EAGER_ROUTERS imported on first need.

    Importing every route module (their pydantic models, FastAPI's analysis of
    each endpoint, the backfill composition under the admin routes, botocore
    under the queues) was most of the API's import time, paid before the first
    response although that response needs one router. Each router has its place
    in the app from the start (an empty router included in ROUTERS' order), so
    matching order and the OpenAPI document are what they were; its module is
    imported into that place the first time a request is not fully matched by
    the routes already there, when the OpenAPI document is built, or before a
    SnapStart snapshot (market_data.snapstart), where it costs nothing.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pending: dict[str, APIRouter] = {}
        self._loading = threading.Lock()

    def add_routers(self, eager: frozenset[str]) -> None:
        for name, read_access in ROUTERS:
            slot = APIRouter()
            if name in eager:
                slot.include_router(_router(name))
            else:
                self._pending[name] = slot
            self.include_router(slot, dependencies=READ_ACCESS if read_access else None)

    @property
    def pending_routers(self) -> tuple[str, ...]:
        """The routers not imported yet."""
        return tuple(self._pending)

    def load_routers(self) -> None:
        """Import every router not imported yet (idempotent, thread-safe)."""
        with self._loading:
            for name, slot in list(self._pending.items()):
                slot.include_router(_router(name))
                del self._pending[name]

    def _serves(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._pending and scope["type"] != "lifespan" and not self._serves(scope):
            # Only a request the imported routes fully match is served before the rest
            # are imported: none of the routers before them matches their paths (tested),
            # so it reaches the route it would reach with all of them.
            self.load_routers()
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        self.load_routers()
        return super().openapi()


def _router(name: str) -> APIRouter:
    router: APIRouter = importlib.import_module(f"api.routes.{name}").router
    return router


def create_app(settings: Settings, *, eager_routers: frozenset[str] = EAGER_ROUTERS) -> App:
    """The app; `eager_routers`: the routers imported now (all: ROUTERS' names)."""
    app = App(
        title="Market Data Warehouse API",
        version=__version__,
        description="Historical OHLCV bars for stocks, ETFs, indices and crypto, "
        "refreshed nightly.",
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(refuse_ambiguous_requests)],
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_routers(eager_routers)
    install_key_access(app, settings)
    if DASHBOARD_DIR.is_dir():
        app.mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
    loopback = settings.cors_loopback_allowed
    if settings.cors_allow_origins or loopback:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_origin_regex=LOOPBACK_ORIGINS if loopback else None,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["X-API-Key", "Content-Type"],
            expose_headers=[
                "X-Next-Cursor",
                "X-Adjustment",
                "Link",
                "Retry-After",
                TRACE_HEADER,
                *RATE_LIMIT_HEADERS,
            ],
        )
    app.add_middleware(StagePrefixMiddleware)
    app.add_middleware(CorrelationMiddleware)  # outermost: every response carries the id
    return app
