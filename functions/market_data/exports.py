"""Async bulk exports: estimated and accepted at once, the files made off the request path.

No AWS, Parquet or database types here: the API route and the export Lambda call
these with their adapters (market_data.exports_s3, repositories.exports); tests
with real ones or fakes.

An export is a record (status, request, estimate, files) kept beside its files;
`submit` estimates the rows and bytes from the series statistics the write path
keeps (no scan of `bars`), refuses a request over the limits with that estimate,
records the export as queued and hands its id to the queue. `run_export` writes
one file per timeframe with every requested symbol's bars, read page by page with
the same SQL the historical endpoint serves (so an adjusted view holds exactly
what the API answers for it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from market_data.corporate_actions import Adjustment
from market_data.errors import InvalidRequestError, UnavailableError, UnknownSymbolsError
from market_data.models import SeriesStats
from market_data.timeframes import Timeframe

logger = logging.getLogger(__name__)

ExportState = Literal["queued", "running", "succeeded", "failed"]
# Bytes a bar takes in each format, measured on the synthetic universe (zstd Parquet
# compresses repeated symbols, sources and flags to almost nothing; CSV spells out
# every field): the estimate a client sees before any work is done.
BYTES_PER_ROW = {"parquet": 40, "csv": 170}
# Rows read from the warehouse per page while an export runs.
EXPORT_PAGE_ROWS = 50_000


class ExportFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


class ExportSpec(BaseModel):
    """What to export, resolved: canonical symbols, UTC half-open range."""

    symbols: list[str]
    timeframes: list[Timeframe]
    start: datetime
    end: datetime
    adjustment: Adjustment
    format: ExportFormat
    validated_only: bool
    min_quality: float = Field(ge=0, le=1)


class Estimate(BaseModel):
    rows: int
    bytes: int


class ExportFile(BaseModel):
    key: str
    timeframe: Timeframe
    rows: int
    bytes: int


class ExportRecord(BaseModel):
    id: uuid.UUID
    status: ExportState
    spec: ExportSpec
    estimate: Estimate
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    bytes: int = 0
    files: list[ExportFile] = Field(default_factory=list)
    error: str | None = None


class ExportTooLargeError(InvalidRequestError):
    slug = "export-too-large"

    def __init__(self, estimate: Estimate, max_rows: int, max_bytes: int) -> None:
        super().__init__(
            f"the export is estimated at {estimate.rows:,} rows and {estimate.bytes:,} bytes, "
            f"more than the limit of {max_rows:,} rows or {max_bytes:,} bytes; "
            "narrow the symbols, timeframes or range",
            estimate=estimate.model_dump(),
            limits={"rows": max_rows, "bytes": max_bytes},
        )


class NothingToExportError(InvalidRequestError):
    slug = "nothing-to-export"

    def __init__(self, estimate: Estimate) -> None:
        super().__init__(
            "no stored bars of the requested symbols and timeframes fall in the range",
            estimate=estimate.model_dump(),
        )


class ExportsUnavailableError(UnavailableError):
    slug = "exports-unavailable"


class ExportStore(Protocol):
    """Where export records live (beside their files in S3, or a fake)."""

    def save(self, record: ExportRecord) -> None: ...

    def load(self, export_id: uuid.UUID) -> ExportRecord | None: ...


class ExportQueue(Protocol):
    def send_export(self, export_id: uuid.UUID) -> None: ...


class BarReader(Protocol):
    """Pages of the API's rows (symbol, timeframe, then BAR_COLUMNS) for one series."""

    def pages(
        self, symbol: str, timeframe: Timeframe, spec: ExportSpec
    ) -> Iterator[Sequence[tuple[Any, ...]]]: ...


class ExportFiles(Protocol):
    def write(
        self,
        export_id: uuid.UUID,
        timeframe: Timeframe,
        fmt: ExportFormat,
        pages: Iterable[Sequence[tuple[Any, ...]]],
    ) -> ExportFile | None:
        """Write the pages as one file; None when they held no row."""
        ...


def estimate(spec: ExportSpec, stats: Sequence[SeriesStats]) -> Estimate:
    """Rows from each series' count, prorated by how much of its span the range covers
    (an upper bound: the quality filters can only take rows away)."""
    wanted_symbols, wanted_timeframes = set(spec.symbols), set(spec.timeframes)
    rows = 0.0
    for s in stats:
        if s.symbol not in wanted_symbols or s.timeframe not in wanted_timeframes:
            continue
        if not s.records or s.first_time is None or s.last_time is None:
            continue
        lo, hi = max(s.first_time, spec.start), min(s.last_time, spec.end)
        if lo > hi or (lo == hi and not spec.start <= lo < spec.end):
            continue
        span = (s.last_time - s.first_time).total_seconds()
        share = 1.0 if span <= 0 else min(1.0, (hi - lo).total_seconds() / span)
        rows += s.records * share
    count = round(rows)
    return Estimate(rows=count, bytes=count * BYTES_PER_ROW[spec.format.value])


def submit(
    spec: ExportSpec,
    stats: Sequence[SeriesStats],
    store: ExportStore,
    queue: ExportQueue,
    *,
    tracked: Iterable[str],
    max_rows: int,
    max_bytes: int,
    now: datetime | None = None,
) -> ExportRecord:
    """Estimate, refuse what is over the limits, record as queued and enqueue."""
    missing = sorted(set(spec.symbols) - set(tracked))
    if missing:
        raise UnknownSymbolsError(missing)
    guess = estimate(spec, stats)
    if guess.rows > max_rows or guess.bytes > max_bytes:
        raise ExportTooLargeError(guess, max_rows, max_bytes)
    if guess.rows == 0:
        raise NothingToExportError(guess)
    record = ExportRecord(
        id=uuid.uuid4(), status="queued", spec=spec, estimate=guess,
        created_at=now or datetime.now(UTC),
    )  # fmt: skip
    store.save(record)
    queue.send_export(record.id)
    logger.info("export queued", extra={"export_id": str(record.id), "estimated_rows": guess.rows})
    return record


def run_export(
    export_id: uuid.UUID, store: ExportStore, reader: BarReader, files: ExportFiles
) -> ExportRecord:
    """Write the export's files and record the outcome (a failure is recorded, then raised)."""
    record = store.load(export_id)
    if record is None:
        raise LookupError(f"export {export_id} is not recorded")
    if record.status == "succeeded":
        return record  # a duplicate delivery
    started = time.perf_counter()
    record = record.model_copy(
        update={"status": "running", "started_at": datetime.now(UTC), "error": None}
    )
    store.save(record)
    spec = record.spec
    written: list[ExportFile] = []
    try:
        for timeframe in spec.timeframes:
            pages = (
                page for symbol in spec.symbols for page in reader.pages(symbol, timeframe, spec)
            )
            file = files.write(record.id, timeframe, spec.format, pages)
            if file is not None:
                written.append(file)
    except Exception as error:
        store.save(
            record.model_copy(
                update={
                    "status": "failed",
                    "finished_at": datetime.now(UTC),
                    "error": type(error).__name__,
                }
            )
        )
        raise
    done = record.model_copy(
        update={
            "status": "succeeded",
            "finished_at": datetime.now(UTC),
            "files": written,
            "rows": sum(f.rows for f in written),
            "bytes": sum(f.bytes for f in written),
        }
    )
    store.save(done)
    logger.info(
        "export written",
        extra={
            "export_id": str(export_id),
            "rows": done.rows,
            "bytes": done.bytes,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return done
