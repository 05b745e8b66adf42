"""The FastAPI application: routers, problem handlers, CORS and the dashboard."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import READ_ACCESS, install_key_access
from api.correlation import TRACE_HEADER, CorrelationMiddleware
from api.deps import refuse_ambiguous_requests
from api.problems import PROBLEM_RESPONSES, install_problem_handlers
from api.routes import (
    admin_backfill,
    admin_keys,
    admin_symbols,
    bars,
    corporate_actions,
    exports,
    gaps,
    historical,
    meta,
    retired,
    warehouse,
)
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


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Market Data Warehouse API",
        version=__version__,
        description="Historical OHLCV bars for stocks, ETFs, indices and crypto, "
        "refreshed nightly.",
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(refuse_ambiguous_requests)],
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(meta.router)
    app.include_router(warehouse.router, dependencies=READ_ACCESS)
    app.include_router(historical.router, dependencies=READ_ACCESS)
    app.include_router(corporate_actions.router, dependencies=READ_ACCESS)
    app.include_router(bars.router, dependencies=READ_ACCESS)
    app.include_router(gaps.router, dependencies=READ_ACCESS)
    app.include_router(exports.router, dependencies=READ_ACCESS)
    app.include_router(admin_keys.router)
    app.include_router(admin_symbols.router)
    app.include_router(admin_backfill.router)
    app.include_router(retired.router)
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
