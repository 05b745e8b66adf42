"""Bars of many symbols at once, and the latest bar of each series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import DatabaseDep
from api.routes.historical import (
    SESSION_DOC,
    BarOut,
    OutputFormat,
    SortOrder,
    TimeframeParam,
    next_page_headers,
    read_many,
)
from market_data import history, latest, reads
from market_data.calendar import nyse
from market_data.corporate_actions import Adjustment
from market_data.errors import QueryError
from market_data.repositories.reads import read_latest
from market_data.sessions import Session
from market_data.timeframes import parse_bar_size

router = APIRouter(prefix="/api/v1", tags=["market data"])

ADJUSTMENT_DOC = "raw, split (default), dividend or all: as on /api/v1/historical"


class MissingOut(BaseModel):
    symbol: str
    reason: reads.MissingReason
    detail: str


class MultiBarPage(BaseModel):
    timeframe: str
    adjustment: Adjustment
    session: Session
    start_date: str
    end_date: str
    count: int
    has_more: bool
    bars: dict[str, list[BarOut]]
    missing: list[MissingOut]
    next_cursor: str | None


@router.get(
    "/bars",
    response_model=MultiBarPage,
    summary="OHLCV bars of up to 200 symbols in one call, paged over (symbol, time)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def bars(
    request: Request,
    db: DatabaseDep,
    symbols: Annotated[str, Query(max_length=4200, description="Comma-separated, up to 200")],
    timeframe: TimeframeParam = "1d",
    start: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or RFC 3339")] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Inclusive; YYYY-MM-DD or RFC 3339")
    ] = None,
    validated_only: bool = True,
    min_quality: Annotated[float, Query(ge=0, le=1)] = history.DEFAULT_MIN_QUALITY,
    limit: Annotated[
        int, Query(ge=1, le=history.MAX_LIMIT, description="Bars a page, across symbols")
    ] = history.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    sort: SortOrder = SortOrder.ASC,
    format: OutputFormat = OutputFormat.JSON,  # noqa: A002 - the public parameter name
    adjustment: Annotated[Adjustment, Query(description=ADJUSTMENT_DOC)] = Adjustment.SPLIT,
    session: Annotated[Session, Query(description=SESSION_DOC)] = Session.ALL,
) -> Response:
    size = parse_bar_size(timeframe)
    names = reads.parse_symbols(symbols)
    query, plan, rows, next_cursor = read_many(
        db, names, size, start, end, validated_only, min_quality, limit, cursor, sort,
        adjustment, session,
    )  # fmt: skip
    headers = next_page_headers(request, next_cursor)
    if format is OutputFormat.CSV:
        headers["X-Adjustment"] = adjustment.value
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        return Response(reads.page_csv(plan, rows), media_type="text/csv", headers=headers)
    last_day = (query.end - timedelta(microseconds=1)).date()
    body = reads.page_body(
        query,
        plan,
        rows,
        next_cursor,
        start or query.start.date().isoformat(),
        end or last_day.isoformat(),
    )
    return Response(body, media_type="application/json", headers=headers)


class LatestOut(BaseModel):
    symbol: str
    asset_class: str
    bar: BarOut
    age_hours: float = Field(description="Wall-clock hours since the bar's time")
    market_age_hours: float = Field(description="The same, less the days the market was closed")
    sessions_missed: int = Field(
        description="Sessions ended since the bar's own with no newer bar (crypto: UTC days)"
    )


class LatestPage(BaseModel):
    timeframe: str
    adjustment: Adjustment
    timestamp: datetime
    latest: list[LatestOut]
    missing: list[MissingOut]


@router.get(
    "/latest",
    response_model=LatestPage,
    summary="The latest stored bar of each symbol, with its age",
)
def latest_bars(
    db: DatabaseDep,
    symbols: Annotated[
        str | None,
        Query(max_length=4200, description="Comma-separated, up to 200; left out: every active"),
    ] = None,
    timeframe: TimeframeParam = "1d",
    adjustment: Annotated[Adjustment, Query(description=ADJUSTMENT_DOC)] = Adjustment.SPLIT,
) -> Response:
    size = parse_bar_size(timeframe)
    stored = size.stored
    if stored is None:
        raise QueryError(
            f"timeframe={timeframe!r}: the latest bar is read from a stored timeframe "
            "(1m 5m 15m 30m 1h 4h 1d 1w)",
            parameter="timeframe",
        )
    names = reads.parse_symbols(symbols) if symbols is not None else None
    rows = read_latest(db.conn, names, stored, adjustment)
    body = latest.page_body(names, rows, stored, adjustment, datetime.now(UTC), nyse())
    return Response(body, media_type="application/json")
