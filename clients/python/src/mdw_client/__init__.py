"""Python client for the Market Data Warehouse API.

from mdw_client import Client

client = Client()  # MDW_BASE_URL and MDW_API_KEY, else http://127.0.0.1:8000
bars = client.bars(["AAPL", "MSFT"], "1d", start="2020-01-01")
df = bars.to_pandas()
"""

from __future__ import annotations

__version__ = "0.1.0"

import logging

from mdw_client._ranges import MAX_SPAN
from mdw_client._transport import Retry, RetryPolicy
from mdw_client.admin import Admin, ApiKeys, Backfills, TrackedSymbols, WaitProgress
from mdw_client.client import DEFAULT_PAGE_SIZE, Client, Progress
from mdw_client.errors import (
    ApiError,
    AuthenticationError,
    BackfillFailedError,
    BadRequestError,
    ConflictError,
    ConnectionFailedError,
    DecodeError,
    FieldError,
    MaxBarsExceededError,
    MdwError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    TransportError,
    ValidationError,
    WaitTimeoutError,
)
from mdw_client.frames import MissingDependencyError
from mdw_client.models import (
    ApiKey,
    ApiKeyCreated,
    AuditEvent,
    AuditPage,
    BackfillAccepted,
    Bar,
    BarPage,
    DatabaseSummary,
    DataQuality,
    ExportAccepted,
    ExportEstimate,
    ExportFile,
    ExportSpec,
    ExportStatus,
    GapRange,
    GapReport,
    GapTotals,
    Health,
    JobStatus,
    JobSummary,
    LastBackfill,
    LatestBar,
    LatestPage,
    Metrics,
    MissingSymbol,
    MultiBarPage,
    RateLimit,
    RunStatus,
    Scheduler,
    Series,
    ServiceInfo,
    Status,
    SymbolHealth,
    SymbolHealthReport,
    SymbolsSummary,
    SymbolStats,
    TrackedSymbol,
)
from mdw_client.results import Bars

# Quiet unless the application configures logging (retries are logged as warnings).
logging.getLogger("mdw_client").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_SPAN",
    "Admin",
    "ApiError",
    "ApiKey",
    "ApiKeyCreated",
    "ApiKeys",
    "AuditEvent",
    "AuditPage",
    "AuthenticationError",
    "BackfillAccepted",
    "BackfillFailedError",
    "Backfills",
    "BadRequestError",
    "Bar",
    "BarPage",
    "Bars",
    "Client",
    "ConflictError",
    "ConnectionFailedError",
    "DataQuality",
    "DatabaseSummary",
    "DecodeError",
    "ExportAccepted",
    "ExportEstimate",
    "ExportFile",
    "ExportSpec",
    "ExportStatus",
    "FieldError",
    "GapRange",
    "GapReport",
    "GapTotals",
    "Health",
    "JobStatus",
    "JobSummary",
    "LastBackfill",
    "LatestBar",
    "LatestPage",
    "MaxBarsExceededError",
    "MdwError",
    "Metrics",
    "MissingDependencyError",
    "MissingSymbol",
    "MultiBarPage",
    "NotFoundError",
    "PermissionDeniedError",
    "Progress",
    "RateLimit",
    "RateLimitError",
    "RequestTimeoutError",
    "Retry",
    "RetryPolicy",
    "RunStatus",
    "Scheduler",
    "Series",
    "ServerError",
    "ServiceInfo",
    "ServiceUnavailableError",
    "Status",
    "SymbolHealth",
    "SymbolHealthReport",
    "SymbolStats",
    "SymbolsSummary",
    "TrackedSymbol",
    "TrackedSymbols",
    "TransportError",
    "ValidationError",
    "WaitProgress",
    "WaitTimeoutError",
    "__version__",
]
