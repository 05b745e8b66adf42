"""Historical OHLCV bars, paged by keyset cursor, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from psycopg import Connection
from pydantic import AfterValidator, BaseModel, Field

from api.blocking import run_blocking
from api.deps import Database, borrowed_database
from market_data import history, reads
from market_data.calendar import nyse
from market_data.corporate_actions import Adjustment
from market_data.errors import InvalidTimeframeError, NoDataError, NotFoundError, UnknownSymbolError
from market_data.models import BarPageQuery
from market_data.repositories.bars import read_bar_page
from market_data.repositories.reads import read_page
from market_data.repositories.symbols import get_symbol, vendor_adjusted_range
from market_data.sessions import Session
from market_data.symbols import canonical_symbol
from market_data.timeframes import BarSize, SizeUnit, Timeframe, multiples, parse_bar_size

router = APIRouter(prefix="/api/v1", tags=["market data"])

TIMEFRAME_DOC = (
    "A stored timeframe (1m 5m 15m 30m 1h 4h 1d 1w) or a multiple aggregated from stored "
    "bars: Nm (1-59), Nh (1-23), Nd (sessions, 1-252), Nw (1-52), Nmo (1, 2, 3, 4, 6, 12)"
)


def _valid_timeframe(text: str) -> str:
    # Checked with the other parameters, so one 422 lists every bad one; the handler
    # parses it again (parse_bar_size stays the one parser).
    try:
        parse_bar_size(text)
    except InvalidTimeframeError as error:
        raise ValueError(error.detail) from None
    return text


TimeframeParam = Annotated[
    str, Query(max_length=8, description=TIMEFRAME_DOC), AfterValidator(_valid_timeframe)
]
SESSION_DOC = (
    "Intraday bars of stocks, ETFs and indices: regular (09:30 to the close, early closes "
    "included), extended (04:00 to 4 h after the close) or all; crypto ignores it"
)


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class OutputFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class BarOut(BaseModel):
    symbol: str
    timeframe: str = Field(description="A stored timeframe or a multiple (2h, 3d, 1mo)")
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
    bars_in: int | None = Field(
        None, description="A multiple's bars only: how many stored bars it aggregates"
    )


class HistoricalPage(BaseModel):
    symbol: str
    timeframe: str
    adjustment: Adjustment
    session: Session = Session.ALL
    start_date: str
    end_date: str
    count: int
    has_more: bool = Field(
        description="The page stops before the end of the range: follow next_cursor "
        "(or the Link rel=next header) for the rest"
    )
    data: list[BarOut]
    next_cursor: str | None


@router.get(
    "/historical/{symbol}",
    response_model=HistoricalPage,
    summary="OHLCV bars for one symbol and timeframe",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
)
async def historical(
    request: Request,
    symbol: Annotated[str, Path(max_length=40, description="AAPL, BRK.B, BTC-USD (or BTCUSD)")],
    timeframe: TimeframeParam = "1d",
    start: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or RFC 3339")] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Inclusive; YYYY-MM-DD or RFC 3339")
    ] = None,
    validated_only: bool = True,
    min_quality: Annotated[float, Query(ge=0, le=1)] = history.DEFAULT_MIN_QUALITY,
    limit: Annotated[int, Query(ge=1, le=history.MAX_LIMIT)] = history.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    sort: SortOrder = SortOrder.ASC,
    format: OutputFormat = OutputFormat.JSON,  # noqa: A002 - the public parameter name
    adjustment: Annotated[
        Adjustment,
        Query(
            description="raw: as traded; split (default, Polygon's adjusted=true): prices "
            "before a split divided by its ratio, volume multiplied; dividend: prices before "
            "an ex-date times 1 - cash/close of the session before; all: both"
        ),
    ] = Adjustment.SPLIT,
    session: Annotated[Session, Query(description=SESSION_DOC)] = Session.ALL,
) -> Response:
    # The whole page is blocking work (pool, SQL, encoding): run_blocking keeps it on
    # the event loop in Lambda, where no other request shares the process.
    return await run_blocking(
        request,
        _page,
        request,
        symbol,
        timeframe,
        start,
        end,
        validated_only,
        min_quality,
        limit,
        cursor,
        sort,
        format,
        adjustment,
        session,
    )


def _page(
    request: Request,
    symbol: str,
    timeframe: str,
    start: str | None,
    end: str | None,
    validated_only: bool,
    min_quality: float,
    limit: int,
    cursor: str | None,
    sort: SortOrder,
    format: OutputFormat,  # noqa: A002 - the public parameter name
    adjustment: Adjustment,
    session: Session,
) -> Response:
    # The connection is borrowed here, not through DatabaseDep: a dependency with
    # cleanup costs FastAPI an exit stack and a cancellation shield on every request,
    # a measurable share of a small page. It goes back to the pool once the body is built.
    with borrowed_database(request) as db:
        canonical = canonical_symbol(symbol)
        size = parse_bar_size(timeframe)
        stored = size.stored
        if stored is None or (session is not Session.ALL and size.is_intraday):
            # A multiple, or a session filter: read as one symbol of a multi-symbol read.
            return _read_through_reads(
                request, db, canonical, size, start, end, validated_only, min_quality, limit,
                cursor, sort, format, adjustment, session,
            )  # fmt: skip

        start_at, end_at = history.resolve_range(stored, start, end, datetime.now(UTC))
        query = BarPageQuery(
            symbol=canonical,
            timeframe=stored,
            start=start_at,
            end=end_at,
            validated_only=validated_only,
            min_quality=min_quality,
            limit=limit,
            descending=sort is SortOrder.DESC,
            adjustment=adjustment,
        )
        if adjustment is not Adjustment.SPLIT:
            # Only the non-default views can meet vendor-adjusted bars: the default page
            # pays no extra round trip (the SQL serves those bars as stored).
            history.check_view(query, vendor_adjusted_range(db.conn, canonical, stored))
        if cursor is not None:
            query = history.continue_query(
                cursor, query, start_given=start is not None, end_given=end is not None
            )

        rows = read_bar_page(db.conn, query)
        if not rows:
            raise _nothing_found(db.conn, canonical, query)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = history.encode_cursor(query, rows[-1][0])

        headers = next_page_headers(request, next_cursor)
        if format is OutputFormat.CSV:
            headers["X-Adjustment"] = adjustment.value
            if next_cursor:
                headers["X-Next-Cursor"] = next_cursor
            return Response(history.page_csv(rows), media_type="text/csv", headers=headers)
        last_day = (query.end - timedelta(microseconds=1)).date()
        body = history.page_body(
            query,
            rows,
            next_cursor,
            start or query.start.date().isoformat(),
            end or last_day.isoformat(),
        )
        return Response(body, media_type="application/json", headers=headers)


def _read_through_reads(
    request: Request,
    db: Database,
    symbol: str,
    size: BarSize,
    start: str | None,
    end: str | None,
    validated_only: bool,
    min_quality: float,
    limit: int,
    cursor: str | None,
    sort: SortOrder,
    format: OutputFormat,  # noqa: A002 - the public parameter name
    adjustment: Adjustment,
    session: Session,
) -> Response:
    query, plan, rows, next_cursor = read_many(
        db, (symbol,), size, start, end, validated_only, min_quality, limit, cursor, sort,
        adjustment, session,
    )  # fmt: skip
    headers = next_page_headers(request, next_cursor)
    if format is OutputFormat.CSV:
        headers["X-Adjustment"] = adjustment.value
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if not rows:
            reads.single_page_body(query, plan, rows, None, "", "")  # raises: no bars
        csv = reads.page_csv(plan, rows, with_symbol=False)
        return Response(csv, media_type="text/csv", headers=headers)
    last_day = (query.end - timedelta(microseconds=1)).date()
    body = reads.single_page_body(
        query, plan, rows, next_cursor,
        start or query.start.date().isoformat(), end or last_day.isoformat(),
    )  # fmt: skip
    return Response(body, media_type="application/json", headers=headers)


def read_many(
    db: Database,
    symbols: tuple[str, ...],
    size: BarSize,
    start: str | None,
    end: str | None,
    validated_only: bool,
    min_quality: float,
    limit: int,
    cursor: str | None,
    sort: SortOrder,
    adjustment: Adjustment,
    session: Session,
) -> tuple[reads.MultiBarQuery, reads.ReadPlan, list[tuple[Any, ...]], str | None]:
    """One page of the multi-symbol read: (query, plan, rows, next cursor)."""
    start_at, end_at = history.resolve_range(size, start, end, datetime.now(UTC))
    query = reads.MultiBarQuery(
        symbols=symbols,
        size=size,
        start=start_at,
        end=end_at,
        validated_only=validated_only,
        min_quality=min_quality,
        limit=limit,
        descending=sort is SortOrder.DESC,
        adjustment=adjustment,
        session=session,
    )
    if cursor is not None:
        query = reads.continue_query(
            cursor, query, start_given=start is not None, end_given=end is not None
        )
    plan, rows, next_cursor = read_page(db.conn, query, nyse())
    return query, plan, rows, next_cursor


def next_page_headers(request: Request, next_cursor: str | None) -> dict[str, str]:
    """RFC 8288: the next page's URL, the same request with the cursor."""
    if not next_cursor:
        return {}
    return {"Link": f'<{request.url.include_query_params(cursor=next_cursor)}>; rel="next"'}


def _nothing_found(conn: Connection[Any], symbol: str, query: BarPageQuery) -> NotFoundError:
    if get_symbol(conn, symbol) is None:
        return UnknownSymbolError(f"symbol {symbol} is not tracked")
    return NoDataError(
        f"no {query.timeframe.value} bars for {symbol} between "
        f"{query.start.isoformat()} and {query.end.isoformat()} matching the filters"
    )


class TimeframeOut(BaseModel):
    timeframe: Timeframe
    seconds: int
    intraday: bool
    default_span_days: float = Field(description="The range a request without start covers")
    max_span_days: int = Field(description="The widest range one request may ask for")
    chart_span_days: int = Field(description="The range the dashboard's chart opens with")


class RequestDefaults(BaseModel):
    validated_only: bool
    min_quality: float
    limit: int
    max_limit: int


class MultipleOut(BaseModel):
    unit: SizeUnit = Field(description="m, h, d (sessions), w or mo")
    counts: list[int] = Field(
        description="Each N the unit takes, ascending: `timeframe=` N then the unit (10m, 2h, "
        "3mo); one that names a stored timeframe (5m, 1h, 1d) is read as stored"
    )
    intraday: bool
    max_span_days: int = Field(description="The widest range one request may ask for")
    built_from: list[Timeframe] = Field(
        description="The stored timeframes these are aggregated from, finest first: each "
        "multiple reads the finest that divides it"
    )


class TimeframesOut(BaseModel):
    timeframes: list[TimeframeOut] = Field(description="The stored timeframes")
    multiples: list[MultipleOut] = Field(
        description="Every other timeframe a bar endpoint accepts, by unit (built on read)"
    )
    defaults: RequestDefaults


@router.get(
    "/timeframes",
    response_model=TimeframesOut,
    summary="The stored timeframes with their request caps, the multiples built from them, "
    "and the bar endpoints' defaults",
)
async def timeframes() -> TimeframesOut:
    return TimeframesOut(
        timeframes=[
            TimeframeOut(
                timeframe=t,
                seconds=int(t.duration.total_seconds()),
                intraday=t.is_intraday,
                default_span_days=t.default_span / timedelta(days=1),
                max_span_days=t.max_span.days,
                chart_span_days=t.facts.chart_span.days,
            )
            for t in Timeframe
        ],
        multiples=[
            MultipleOut(
                unit=m.unit,
                counts=list(m.counts),
                intraday=m.is_intraday,
                max_span_days=m.max_span.days,
                built_from=list(m.built_from),
            )
            for m in multiples()
        ],
        defaults=RequestDefaults(
            validated_only=True,
            min_quality=history.DEFAULT_MIN_QUALITY,
            limit=history.DEFAULT_LIMIT,
            max_limit=history.MAX_LIMIT,
        ),
    )
