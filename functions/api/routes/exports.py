"""Async bulk exports: `POST /api/v1/exports` estimates and queues, `GET /api/v1/exports/{id}`
reports and links the files.

The estimate (rows, bytes) comes from the series statistics before any work; a
request over the configured limits is a 422 problem carrying it. The files are
written by the export Lambda (SQS), one per timeframe, and served through
presigned S3 URLs that expire (EXPORT_URL_TTL_S).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import DatabaseDep, SettingsDep
from api.problems import problem_doc
from market_data import history
from market_data.corporate_actions import Adjustment
from market_data.errors import InvalidSymbolError, NotFoundError
from market_data.exports import (
    Estimate,
    ExportFormat,
    ExportRecord,
    ExportSpec,
    ExportState,
    ExportsUnavailableError,
    submit,
)
from market_data.exports_s3 import S3ExportStore, SqsExportQueue
from market_data.models import BarPageQuery
from market_data.repositories.symbols import list_series_stats, list_symbols
from market_data.settings import Settings
from market_data.symbols import canonical_symbol
from market_data.timeframes import Timeframe

MAX_SYMBOLS = 5_000

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[str] | Literal["all"] = Field(
        description='Tracked symbols, or "all" for every active one.',
        examples=[["AAPL", "MSFT"], "all"],
    )
    timeframes: list[Timeframe] = Field(default=[Timeframe.D1], min_length=1, max_length=8)
    start: str | None = Field(
        default=None, description="YYYY-MM-DD or RFC 3339 (default: the first stored bar)"
    )
    end: str | None = Field(default=None, description="Inclusive; YYYY-MM-DD or RFC 3339")
    adjustment: Adjustment = Adjustment.SPLIT
    format: ExportFormat = ExportFormat.PARQUET
    # Strict: a JSON false is not a quality of 0, nor a string "no" a boolean.
    validated_only: bool = Field(default=True, strict=True)
    min_quality: float = Field(default=history.DEFAULT_MIN_QUALITY, ge=0, le=1, strict=True)

    @field_validator("symbols")
    @classmethod
    def _canonical(cls, values: list[str] | str) -> list[str] | str:
        if isinstance(values, str):
            return values
        if not 1 <= len(values) <= MAX_SYMBOLS:
            raise ValueError(f'give 1 to {MAX_SYMBOLS} symbols, or "all"')
        try:
            return list(dict.fromkeys(canonical_symbol(v) for v in values))
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timeframes")
    @classmethod
    def _unique(cls, values: list[Timeframe]) -> list[Timeframe]:
        return list(dict.fromkeys(values))


class ExportAccepted(BaseModel):
    id: uuid.UUID
    status: ExportState
    estimate: Estimate
    status_url: str


class ExportFileOut(BaseModel):
    timeframe: Timeframe
    format: ExportFormat
    rows: int
    bytes: int
    url: str = Field(description="Presigned GET URL; expires at expires_at")
    expires_at: datetime


class ExportStatus(BaseModel):
    id: uuid.UUID
    status: ExportState
    request: ExportSpec
    estimate: Estimate
    rows: int
    bytes: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    files: list[ExportFileOut]


@cache
def _client(service: str, endpoint_url: str | None) -> Any:
    # Created on first use, not at import: most API calls never touch S3 or SQS.
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def export_store(settings: SettingsDep) -> S3ExportStore:
    if not settings.exports_bucket:
        raise ExportsUnavailableError("Exports are not configured (EXPORTS_BUCKET).")
    return S3ExportStore(_client("s3", settings.aws_endpoint_url), settings.exports_bucket)


def export_queue(settings: SettingsDep) -> SqsExportQueue:
    if not settings.export_queue_url:
        raise ExportsUnavailableError("Exports are not configured (EXPORT_QUEUE_URL).")
    return SqsExportQueue(_client("sqs", settings.aws_endpoint_url), settings.export_queue_url)


StoreDep = Annotated[S3ExportStore, Depends(export_store)]
QueueDep = Annotated[SqsExportQueue, Depends(export_queue)]


def _spec(body: ExportRequest, tracked: list[str], now: datetime) -> ExportSpec:
    start, end = history.resolve_window(body.start, body.end)
    return ExportSpec(
        symbols=tracked if body.symbols == "all" else list(body.symbols),
        timeframes=body.timeframes,
        start=start or history.EARLIEST,
        end=end or now,
        adjustment=body.adjustment,
        format=body.format,
        validated_only=body.validated_only,
        min_quality=body.min_quality,
    )


@router.post(
    "",
    status_code=202,
    response_model=ExportAccepted,
    summary="Export bars in bulk (Parquet or CSV files in S3): estimated and queued at once",
    responses={
        422: problem_doc(
            "Bad body, unknown symbol, reversed range, nothing to export, or an estimate over "
            "the limits (the problem carries `estimate` and `limits`)"
        ),
        503: problem_doc("Exports are not configured, or the database is unavailable"),
    },
)
def create_export(
    body: ExportRequest,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    store: StoreDep,
    queue: QueueDep,
) -> ExportAccepted:
    now = datetime.now(UTC)
    tracked = list_symbols(db.conn, active_only=body.symbols == "all")
    spec = _spec(body, [t.symbol for t in tracked], now)
    stats = list_series_stats(db.conn)
    if spec.adjustment is not Adjustment.SPLIT:
        # As the historical endpoint: the other views refuse vendor-adjusted ranges (409).
        for s in stats:
            if s.symbol in spec.symbols and s.timeframe in spec.timeframes:
                history.check_view(_probe(s.symbol, s.timeframe, spec), s.vendor_adjusted)
    record = submit(
        spec, stats, store, queue,
        tracked=[t.symbol for t in tracked],
        max_rows=settings.export_max_rows,
        max_bytes=settings.export_max_bytes,
        now=now,
    )  # fmt: skip
    return ExportAccepted(
        id=record.id,
        status=record.status,
        estimate=record.estimate,
        status_url=f"{request.scope.get('root_path', '')}{router.prefix}/{record.id}",
    )


def _probe(symbol: str, timeframe: Timeframe, spec: ExportSpec) -> BarPageQuery:
    return BarPageQuery(
        symbol=symbol, timeframe=timeframe, start=spec.start, end=spec.end,
        validated_only=spec.validated_only, min_quality=spec.min_quality, limit=1,
        adjustment=spec.adjustment,
    )  # fmt: skip


@router.get(
    "/{export_id}",
    response_model=ExportStatus,
    summary="An export: status, rows, bytes and expiring download URLs once written",
    responses={404: problem_doc("No such export (or it has expired)")},
)
def get_export(export_id: uuid.UUID, store: StoreDep, settings: SettingsDep) -> ExportStatus:
    record = store.load(export_id)
    if record is None:
        raise NotFoundError(f"No export {export_id}.")
    return status_of(record, store, settings)


def status_of(record: ExportRecord, store: S3ExportStore, settings: Settings) -> ExportStatus:
    ttl = settings.export_url_ttl_s
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    return ExportStatus(
        id=record.id,
        status=record.status,
        request=record.spec,
        estimate=record.estimate,
        rows=record.rows,
        bytes=record.bytes,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
        files=[
            ExportFileOut(
                timeframe=f.timeframe,
                format=record.spec.format,
                rows=f.rows,
                bytes=f.bytes,
                url=store.presign(f.key, ttl),
                expires_at=expires,
            )
            for f in record.files
        ],
    )
