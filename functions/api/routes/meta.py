"""Service description and liveness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from api.problems import ProblemError, problem_doc
from market_data import __version__
from market_data.db import get_pool
from market_data.keys.services import check_key_tables

router = APIRouter(tags=["service"])


class HealthResponse(BaseModel):
    status: str
    timestamp: datetime
    version: str
    scheduler_running: bool = Field(
        description="The nightly backfill schedule is enabled (the replaced system's field)"
    )
    checks: dict[str, str] = {}


@router.get("/", summary="Service name, version and links")
def root(request: Request) -> dict[str, Any]:
    base = request.scope.get("root_path", "")
    return {
        "name": "Market Data Warehouse API",
        "version": __version__,
        "links": {
            "docs": f"{base}/docs",
            "openapi": f"{base}/openapi.json",
            "dashboard": f"{base}/dashboard",
            "health": f"{base}/health",
            "status": f"{base}/api/v1/status",
            "symbols": f"{base}/api/v1/symbols",
            "historical": f"{base}/api/v1/historical/{{symbol}}",
            "metrics": f"{base}/api/v1/metrics",
        },
    }


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Liveness; deep=true also checks the database and the key store",
    responses={503: problem_doc("A dependency is down (problem+json with checks)")},
)
def health(
    settings: SettingsDep,
    deep: bool = Query(False, description="Also check PostgreSQL and DynamoDB"),
) -> HealthResponse:
    now = datetime.now(UTC)
    scheduler_running = settings.nightly_schedule_enabled
    if not deep:
        return HealthResponse(
            status="healthy",
            timestamp=now,
            version=__version__,
            scheduler_running=scheduler_running,
        )
    checks = {name: _run_check(check, settings) for name, check in DEEP_CHECKS.items()}
    if any(result != "ok" for result in checks.values()):
        raise ProblemError(
            503,
            "A dependency is unavailable: "
            + ", ".join(name for name, result in checks.items() if result != "ok"),
            slug="degraded",
            headers={"Retry-After": "5"},
            health="degraded",
            checks=checks,
        )
    return HealthResponse(
        status="healthy",
        timestamp=now,
        version=__version__,
        scheduler_running=scheduler_running,
        checks=checks,
    )


def _run_check(check: Any, settings: Any) -> str:
    try:
        check(settings)
    except Exception as exc:  # a failing dependency is reported, never raised
        return f"unavailable ({type(exc).__name__})"
    return "ok"


def _check_database(settings: Any) -> None:
    with get_pool(settings).connection() as conn:
        conn.execute("SELECT 1")


# Name -> callable(settings) that raises when the dependency is down.
DEEP_CHECKS: dict[str, Any] = {"database": _check_database, "dynamodb": check_key_tables}
