"""Endpoints of the replaced system that are gone: 410 problems that name what replaces them.

The old server measured itself (`/observability/*`, `/performance/*`) and ran
its own test suite over HTTP (`/tests/run`). Here the numbers come from
CloudWatch (the `MarketDataWarehouse-<stage>` dashboard and its alarms) and
from GET /api/v1/metrics; tests run in CI (`make test`), never in production.
A 410 says so to a client that still calls them, instead of a bare 404.
Not in the OpenAPI document: nothing new should call them.
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import APIRouter, Request

from market_data.errors import RetiredEndpointError

router = APIRouter(prefix="/api/v1", include_in_schema=False)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

# What replaces them: (title, API path or None).
Replacement = tuple[str, str | None]
METRICS: Replacement = ("GET /api/v1/metrics (scheduler, last run, totals)", "/api/v1/metrics")
STATUS: Replacement = ("GET /api/v1/status (warehouse and data quality)", "/api/v1/status")
SYMBOL_HEALTH: Replacement = (
    "GET /api/v1/symbols/detailed (each symbol's health)",
    "/api/v1/symbols/detailed",
)
CLOUDWATCH: Replacement = (
    "the CloudWatch dashboard MarketDataWarehouse-<stage> (API latency and errors, Lambda, "
    "queue, Aurora, DynamoDB) and its alarms, which notify the SNS topic",
    None,
)
BENCHMARKS: Replacement = ("make bench (docs/PERFORMANCE.md)", None)
CI_TESTS: Replacement = ("make test, which CI runs on every change", None)

# path below /api/v1 -> (why it is gone, what replaces it)
RETIRED: dict[str, tuple[str, list[Replacement]]] = {
    "observability/metrics": (
        "the old server's counters were per process and lost on every restart.",
        [METRICS, CLOUDWATCH],
    ),
    "observability/alerts": (
        "alerts are CloudWatch alarms now, not computed per request.",
        [CLOUDWATCH, METRICS, SYMBOL_HEALTH],
    ),
    "performance/cache": (
        "there is no in-process cache to report on: reads are index range scans.",
        [CLOUDWATCH],
    ),
    "performance/queries": (
        "query timings are measured by CloudWatch (API latency, Aurora) and the benchmarks.",
        [CLOUDWATCH, BENCHMARKS],
    ),
    "performance/summary": (
        "performance is measured outside the API.",
        [CLOUDWATCH, BENCHMARKS],
    ),
    "tests/run": ("a production API does not run its own test suite.", [CI_TESTS, STATUS]),
}
OTHER = ("the old server's self-measurement endpoints were replaced.", [METRICS, CLOUDWATCH])


def _gone(request: Request, rest: str) -> NoReturn:
    reason, replacements = RETIRED.get(rest.strip("/"), OTHER)
    root = request.scope.get("root_path", "")
    replaced_by = [
        {"title": title, **({"href": root + path} if path else {})} for title, path in replacements
    ]
    raise RetiredEndpointError(request.url.path, reason, replaced_by)


@router.api_route("/observability/{rest:path}", methods=ALL_METHODS, response_model=None)
def retired_observability(request: Request, rest: str) -> NoReturn:
    _gone(request, f"observability/{rest}")


@router.api_route("/performance/{rest:path}", methods=ALL_METHODS, response_model=None)
def retired_performance(request: Request, rest: str) -> NoReturn:
    _gone(request, f"performance/{rest}")


@router.api_route("/tests/run", methods=ALL_METHODS, response_model=None)
def retired_test_runner(request: Request) -> NoReturn:
    _gone(request, "tests/run")
