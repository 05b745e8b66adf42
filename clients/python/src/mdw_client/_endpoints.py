"""Every server operation this client calls: method, path, the parameters it may send.

The client sends requests only through these entries, and a test checks each
against the server's `/openapi.json` (the path and method exist, the query
parameters and body fields are the server's, the response schema matches the
model). Covering a new endpoint is one entry here and one method in `client.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mdw_client import models


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    response: type | None = None
    status: int = 200
    # Sent only when the caller gives them; the server is getting them (not in its
    # OpenAPI document yet, so the sync test does not require them there).
    upcoming: tuple[str, ...] = ()

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")


HISTORICAL_QUERY = (
    "timeframe", "start", "end", "validated_only", "min_quality", "limit", "cursor", "sort",
    "format", "adjustment",
)  # fmt: skip

ROOT = Endpoint("GET", "/", response=models.ServiceInfo)
HEALTH = Endpoint("GET", "/health", query=("deep",), response=models.Health)
STATUS = Endpoint("GET", "/api/v1/status", response=models.Status)
METRICS = Endpoint("GET", "/api/v1/metrics", response=models.Metrics)
SYMBOLS = Endpoint("GET", "/api/v1/symbols", response=models.SymbolsSummary)
TIMEFRAMES = Endpoint("GET", "/api/v1/timeframes", response=models.Timeframes)
SYMBOLS_DETAILED = Endpoint("GET", "/api/v1/symbols/detailed", response=models.SymbolHealthReport)
HISTORICAL = Endpoint(
    "GET",
    "/api/v1/historical/{symbol}",
    query=HISTORICAL_QUERY,
    response=models.BarPage,
)
MULTI_BARS = Endpoint(
    "GET",
    "/api/v1/bars",
    query=("symbols", *HISTORICAL_QUERY, "session"),
    response=models.MultiBarPage,
)
LATEST = Endpoint(
    "GET",
    "/api/v1/latest",
    query=("symbols", "timeframe", "adjustment"),
    response=models.LatestPage,
)
GAPS = Endpoint(
    "GET",
    "/api/v1/symbols/{symbol}/gaps",
    query=("timeframe", "start", "end", "session"),
    response=models.GapReport,
)
CORPORATE_ACTIONS = Endpoint(
    "GET",
    "/api/v1/corporate-actions/{symbol}",
    query=("start", "end"),
    response=models.CorporateActions,
)

API_KEYS = "/api/v1/admin/api-keys"
KEY_CREATE = Endpoint(
    "POST",
    API_KEYS,
    body=("name", "scopes", "expires_at", "rate_limit_per_minute"),
    response=models.ApiKeyCreated,
    status=201,
)
KEY_LIST = Endpoint("GET", API_KEYS, query=("active_only",), response=models.ApiKeyList)
KEY_GET = Endpoint("GET", API_KEYS + "/{key_id}", response=models.ApiKey)
KEY_UPDATE = Endpoint(
    "PUT", API_KEYS + "/{key_id}", body=("active", "name"), response=models.ApiKey
)
KEY_DELETE = Endpoint("DELETE", API_KEYS + "/{key_id}", status=204)
KEY_AUDIT = Endpoint(
    "GET", API_KEYS + "/{key_id}/audit", query=("limit", "cursor"), response=models.AuditPage
)

ADMIN_SYMBOLS = "/api/v1/admin/symbols"
SYMBOL_CREATE = Endpoint(
    "POST",
    ADMIN_SYMBOLS,
    body=("symbol", "asset_class", "name", "timeframes"),
    response=models.TrackedSymbol,
    status=201,
)
SYMBOL_LIST = Endpoint(
    "GET",
    ADMIN_SYMBOLS,
    query=("active_only", "include_stats"),
    response=models.TrackedSymbolList,
)
SYMBOL_GET = Endpoint("GET", ADMIN_SYMBOLS + "/{symbol}", response=models.TrackedSymbol)
SYMBOL_UPDATE = Endpoint(
    "PUT", ADMIN_SYMBOLS + "/{symbol}", body=("active", "name"), response=models.TrackedSymbol
)
SYMBOL_TIMEFRAMES = Endpoint(
    "PUT", ADMIN_SYMBOLS + "/{symbol}/timeframes", body=("timeframes",),
    response=models.TrackedSymbol,
)  # fmt: skip
SYMBOL_DEACTIVATE = Endpoint("DELETE", ADMIN_SYMBOLS + "/{symbol}", response=models.TrackedSymbol)

BACKFILL = "/api/v1/admin/backfill"
BACKFILL_START = Endpoint(
    "POST",
    BACKFILL,
    body=("symbols", "timeframes", "start", "end"),
    response=models.BackfillAccepted,
    status=202,
)
BACKFILL_JOB = Endpoint("GET", BACKFILL + "/{job_id}", response=models.JobStatus)
BACKFILL_RUN = Endpoint("GET", BACKFILL + "/runs/{run_id}", response=models.RunStatus)

EXPORTS = "/api/v1/exports"
EXPORT_CREATE = Endpoint(
    "POST",
    EXPORTS,
    body=("symbols", "timeframes", "start", "end", "adjustment", "format", "validated_only",
          "min_quality"),
    response=models.ExportAccepted,
    status=202,
)  # fmt: skip
EXPORT_GET = Endpoint("GET", EXPORTS + "/{export_id}", response=models.ExportStatus)

ALL: tuple[Endpoint, ...] = tuple(v for v in globals().values() if isinstance(v, Endpoint))
