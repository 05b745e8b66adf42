"""What the API returns, as typed, immutable dataclasses.

Field names are the server's JSON member names. Classes with an `OPENAPI`
name mirror that schema of the server's `/openapi.json`; a test compares them,
so a server change that would break this client fails CI. Enumerations
(timeframes, scopes, statuses) are plain `str`, so a value the server adds
later does not break an older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from mdw_client._decode import parse_time

# --- bars ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar. `symbol` is filled in by the client (the page names it once)."""

    OPENAPI: ClassVar[str] = "BarOut"
    CLIENT_ONLY: ClassVar[frozenset[str]] = frozenset({"symbol"})

    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    trades: int | None
    source: str
    validated: bool
    quality_score: float
    validation_notes: str | None
    gap_detected: bool
    volume_anomaly: bool
    fetched_at: datetime
    # A multiple's bar (10m, 2h, 1mo): how many stored bars it aggregates. None for a
    # stored timeframe's bar, and from servers that do not send it.
    bars_in: int | None = None

    @classmethod
    def from_json(cls, symbol: str, row: dict[str, Any]) -> Bar:
        # The hot path (every bar of every page): no generic decoding here.
        trades = row["trades"]
        vwap = row["vwap"]
        bars_in = row.get("bars_in")  # multiples only; older servers never send it
        return cls(
            symbol,
            parse_time(row["time"]),
            float(row["open"]),
            float(row["high"]),
            float(row["low"]),
            float(row["close"]),
            float(row["volume"]),
            None if vwap is None else float(vwap),
            None if trades is None else int(trades),
            row["source"],
            bool(row["validated"]),
            float(row["quality_score"]),
            row["validation_notes"],
            bool(row["gap_detected"]),
            bool(row["volume_anomaly"]),
            parse_time(row["fetched_at"], "fetched_at"),
            None if bars_in is None else int(bars_in),
        )


@dataclass(frozen=True, slots=True)
class BarPage:
    """One page of `GET /api/v1/historical/{symbol}`."""

    OPENAPI: ClassVar[str] = "HistoricalPage"

    symbol: str
    timeframe: str
    start_date: str
    end_date: str
    count: int
    data: list[Bar]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MissingSymbol:
    """A symbol of a many-symbol request that returned no bars, and why."""

    OPENAPI: ClassVar[str] = "MissingOut"

    symbol: str
    # "unknown-symbol", "no-data", "no-timeframe" (nothing stored to read or build the
    # timeframe from) or "vendor-adjusted" (only adjustment=split is available)
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MultiBarPage:
    """One page of `GET /api/v1/bars`: bars by symbol, keyset-paged over (symbol, time)."""

    OPENAPI: ClassVar[str] = "MultiBarPage"

    timeframe: str
    adjustment: str
    session: str
    start_date: str
    end_date: str
    count: int
    has_more: bool
    bars: dict[str, Any]  # symbol -> list[Bar]; decoded by the client's fast path
    missing: list[MissingSymbol]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LatestBar:
    """The newest stored bar of a symbol and how old it is."""

    OPENAPI: ClassVar[str] = "LatestOut"

    symbol: str
    asset_class: str
    bar: dict[str, Any]
    age_hours: float
    market_age_hours: float
    sessions_missed: int


@dataclass(frozen=True, slots=True)
class LatestPage:
    OPENAPI: ClassVar[str] = "LatestPage"

    timeframe: str
    adjustment: str
    timestamp: datetime
    latest: list[LatestBar]
    missing: list[MissingSymbol]


@dataclass(frozen=True, slots=True)
class GapRange:
    OPENAPI: ClassVar[str] = "GapRangeOut"

    first: datetime  # the first missing bar's time
    last: datetime  # the last missing bar's time
    bars: int


@dataclass(frozen=True, slots=True)
class GapTotals:
    OPENAPI: ClassVar[str] = "GapTotals"

    expected: int
    present: int
    missing: int
    flagged: int
    gap_flagged: int
    unexpected: int


@dataclass(frozen=True, slots=True)
class GapReport:
    """`GET /api/v1/symbols/{symbol}/gaps`: expected bars missing, merged into ranges."""

    OPENAPI: ClassVar[str] = "GapReportOut"

    symbol: str
    timeframe: str
    session: str
    start: datetime
    end: datetime
    totals: GapTotals
    gaps: list[GapRange]


# --- service, status and symbols ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    version: str
    links: dict[str, str]


@dataclass(frozen=True, slots=True)
class Health:
    OPENAPI: ClassVar[str] = "HealthResponse"

    status: str
    timestamp: datetime
    version: str
    scheduler_running: bool = True  # the nightly schedule is enabled
    checks: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimeframeInfo:
    OPENAPI: ClassVar[str] = "TimeframeOut"

    timeframe: str
    seconds: int
    intraday: bool
    default_span_days: float
    max_span_days: int
    chart_span_days: int


@dataclass(frozen=True, slots=True)
class RequestDefaults:
    OPENAPI: ClassVar[str] = "RequestDefaults"

    validated_only: bool
    min_quality: float
    limit: int
    max_limit: int


@dataclass(frozen=True, slots=True)
class TimeframeMultiples:
    """The multiples of one unit a bar endpoint accepts: f"{count}{unit}" (10m, 2h, 3mo)."""

    OPENAPI: ClassVar[str] = "MultipleOut"

    unit: str  # m, h, d (sessions), w or mo
    counts: list[int]
    intraday: bool
    max_span_days: int
    built_from: list[str]  # the stored timeframes they are aggregated from, finest first

    def values(self) -> list[str]:
        return [f"{count}{self.unit}" for count in self.counts]


@dataclass(frozen=True, slots=True)
class Timeframes:
    OPENAPI: ClassVar[str] = "TimeframesOut"

    timeframes: list[TimeframeInfo]
    defaults: RequestDefaults
    # Servers before the multiples were listed leave it out: empty, not an error.
    multiples: list[TimeframeMultiples] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Split:
    OPENAPI: ClassVar[str] = "SplitOut"

    execution_date: date
    split_from: float
    split_to: float
    ratio: float


@dataclass(frozen=True, slots=True)
class Dividend:
    OPENAPI: ClassVar[str] = "DividendOut"

    ex_dividend_date: date
    cash_amount: float
    currency: str
    declaration_date: date | None
    record_date: date | None
    pay_date: date | None
    dividend_type: str
    frequency: int | None


@dataclass(frozen=True, slots=True)
class CorporateActions:
    OPENAPI: ClassVar[str] = "CorporateActionsOut"

    symbol: str
    splits: list[Split]
    dividends: list[Dividend]
    sources: dict[str, datetime]


@dataclass(frozen=True, slots=True)
class DatabaseSummary:
    symbols_available: int
    latest_data: datetime | None
    total_records: int
    validated_records: int
    validation_rate_pct: float | None


@dataclass(frozen=True, slots=True)
class LastBackfill:
    run_id: str
    trigger: str
    time: datetime
    finished_at: datetime | None
    status: str
    jobs_total: int
    jobs_failed: int
    successful_symbols: int
    failed_symbols: int
    total_records_imported: int


@dataclass(frozen=True, slots=True)
class DataQuality:
    records_with_gaps_flagged: int
    scheduler_status: str  # "running" while the nightly schedule is enabled, else "stopped"
    last_backfill: LastBackfill | None
    next_run: datetime | None = None  # None while the schedule is stopped
    run_state: str = "idle"  # "running" while a run is under way


@dataclass(frozen=True, slots=True)
class Status:
    api_version: str
    status: str
    timestamp: datetime
    database: DatabaseSummary
    data_quality: DataQuality


@dataclass(frozen=True, slots=True)
class Scheduler:
    schedule: str
    status: str  # "running" while the nightly schedule is enabled, else "stopped"
    next_run: datetime | None = None
    running: bool = True  # the same as a boolean
    run_state: str = "idle"  # "running" while a run is under way


@dataclass(frozen=True, slots=True)
class Metrics:
    timestamp: datetime
    scheduler: Scheduler
    last_backfill: LastBackfill | None
    database: DatabaseSummary
    health: dict[str, str]


@dataclass(frozen=True, slots=True)
class SymbolsSummary:
    symbols_available: int
    latest_data: datetime | None
    symbols: list[str]


@dataclass(frozen=True, slots=True)
class SymbolHealth:
    """A row of `/api/v1/symbols/detailed`: status is healthy, warning or stale."""

    symbol: str
    asset_class: str
    records: int
    validation_rate: float
    latest_data: datetime | None
    data_age_hours: float | None
    timeframes: list[str]
    status: str
    name: str | None = None
    market_age_hours: float | None = None
    # Per stored timeframe, the provider its bars came from ("polygon", "synthetic").
    providers: dict[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class SymbolHealthReport:
    count: int
    timestamp: datetime
    symbols: list[SymbolHealth]


# --- admin: API keys ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as admins see it: a preview, never the key itself."""

    OPENAPI: ClassVar[str] = "ApiKeyPublic"

    id: str
    name: str
    key_preview: str
    scopes: list[str]
    active: bool
    status: str  # active, revoked or expired
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_minute: int | None


@dataclass(frozen=True, slots=True)
class ApiKeyCreated(ApiKey):
    """A new key; `api_key` is in this answer only: store it now."""

    OPENAPI: ClassVar[str] = "ApiKeyCreated"

    api_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKeyList:
    OPENAPI: ClassVar[str] = "ApiKeyList"

    count: int
    api_keys: list[ApiKey]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    OPENAPI: ClassVar[str] = "AuditEventPublic"

    time: datetime
    key_id: str
    action: str
    method: str
    path: str
    target: str | None
    # None while an admin change's outcome is not recorded yet (it was audited before
    # it ran; a missing outcome means the change may have been made).
    outcome: int | None
    request_id: str
    source_ip: str | None
    user_agent: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    OPENAPI: ClassVar[str] = "AuditPagePublic"

    key_id: str
    count: int
    events: list[AuditEvent]
    next_cursor: str | None


# --- admin: tracked symbols ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    OPENAPI: ClassVar[str] = "SeriesPublic"

    timeframe: str
    records: int
    validated_records: int
    gap_records: int
    first_time: datetime | None
    last_time: datetime | None


@dataclass(frozen=True, slots=True)
class SymbolStats:
    OPENAPI: ClassVar[str] = "SymbolStats"

    records: int
    validated_records: int
    validation_rate: float | None
    latest_data: datetime | None
    series: list[Series]


@dataclass(frozen=True, slots=True)
class TrackedSymbol:
    OPENAPI: ClassVar[str] = "SymbolPublic"

    symbol: str
    asset_class: str
    name: str | None
    active: bool
    timeframes: list[str]
    created_at: datetime
    updated_at: datetime
    stats: SymbolStats | None = None


@dataclass(frozen=True, slots=True)
class TrackedSymbolList:
    OPENAPI: ClassVar[str] = "SymbolList"

    count: int
    symbols: list[TrackedSymbol]


# --- admin: backfills ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSummary:
    OPENAPI: ClassVar[str] = "JobSummary"

    job_id: str
    symbol: str
    timeframe: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class BackfillAccepted:
    OPENAPI: ClassVar[str] = "BackfillAccepted"

    run_id: str
    jobs_total: int
    job_ids: list[str]
    jobs: list[JobSummary]
    not_enqueued: list[str]  # refused by the queue: recorded as failed jobs
    status_url: str
    # "planning": the whole universe, planned by the server after it answered; the
    # job lists are empty and `Backfills.run(run_id)` follows the run.
    status: str = "queued"
    run_url: str = ""


@dataclass(frozen=True, slots=True)
class RunStatus:
    OPENAPI: ClassVar[str] = "RunStatus"

    run_id: str
    trigger: str
    status: str  # planning, running or finished
    started_at: datetime
    planned_at: datetime | None
    finished_at: datetime | None
    error: str | None  # why the run could not be planned
    jobs_total: int
    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int
    bars_upserted: int

    @property
    def done(self) -> bool:
        return self.status == "finished"


FINISHED_JOB_STATES = frozenset({"succeeded", "failed"})


@dataclass(frozen=True, slots=True)
class JobStatus:
    OPENAPI: ClassVar[str] = "JobStatus"

    job_id: str
    run_id: str
    symbol: str
    asset_class: str | None
    timeframe: str
    start: datetime
    end: datetime
    status: str  # queued, running, retrying, succeeded or failed
    attempts: int
    bars_fetched: int
    bars_upserted: int
    bars_flagged: int
    bars_rejected: int
    vendor_requests: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        """Finished for good: succeeded or failed (a retrying job is not done)."""
        return self.status in FINISHED_JOB_STATES


# --- bulk exports ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportEstimate:
    """Rows and bytes an export is expected to hold, computed before any work."""

    OPENAPI: ClassVar[str] = "Estimate"

    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class ExportAccepted:
    OPENAPI: ClassVar[str] = "ExportAccepted"

    id: str
    status: str
    estimate: ExportEstimate
    status_url: str


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What an export holds, as the server resolved the request (UTC, end exclusive)."""

    OPENAPI: ClassVar[str] = "ExportSpec"

    symbols: list[str]
    timeframes: list[str]
    start: datetime
    end: datetime
    adjustment: str
    format: str
    validated_only: bool
    min_quality: float


@dataclass(frozen=True, slots=True)
class ExportFile:
    OPENAPI: ClassVar[str] = "ExportFileOut"

    timeframe: str
    format: str
    rows: int
    bytes: int
    url: str  # presigned: fetch it without the API key, before expires_at
    expires_at: datetime


FINISHED_EXPORT_STATES = frozenset({"succeeded", "failed"})


@dataclass(frozen=True, slots=True)
class ExportStatus:
    OPENAPI: ClassVar[str] = "ExportStatus"

    id: str
    status: str  # queued, running, succeeded or failed
    request: ExportSpec
    estimate: ExportEstimate
    rows: int
    bytes: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    files: list[ExportFile]

    @property
    def done(self) -> bool:
        return self.status in FINISHED_EXPORT_STATES


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The caller's rate-limit window, from the X-RateLimit-* headers of a keyed answer."""

    limit: int
    remaining: int
    reset: datetime  # when the window (and the count) resets
