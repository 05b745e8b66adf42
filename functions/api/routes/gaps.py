"""The gap report of one series: expected bars the warehouse does not hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import DatabaseDep
from api.routes.historical import TimeframeParam
from market_data import gaps, history
from market_data.calendar import nyse
from market_data.errors import QueryError, UnknownSymbolError
from market_data.repositories.reads import read_bar_times
from market_data.repositories.symbols import get_symbol
from market_data.sessions import Session
from market_data.symbols import canonical_symbol
from market_data.timeframes import Timeframe, parse_bar_size

router = APIRouter(prefix="/api/v1", tags=["market data"])


class GapRangeOut(BaseModel):
    first: datetime
    last: datetime
    bars: int


class GapTotals(BaseModel):
    expected: int
    present: int
    missing: int
    flagged: int
    gap_flagged: int
    unexpected: int


class GapReportOut(BaseModel):
    symbol: str
    timeframe: Timeframe
    session: Session
    start: datetime
    end: datetime
    totals: GapTotals
    gaps: list[GapRangeOut]


@router.get(
    "/symbols/{symbol}/gaps",
    response_model=GapReportOut,
    summary="Expected bars (by the exchange calendar) missing from a series, merged into ranges",
)
def symbol_gaps(
    db: DatabaseDep,
    symbol: Annotated[str, Path(max_length=40)],
    timeframe: TimeframeParam = "1d",
    start: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or RFC 3339")] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Inclusive; YYYY-MM-DD or RFC 3339")
    ] = None,
    session: Annotated[
        Session,
        Query(description="Intraday stocks, ETFs, indices: the hours bars are expected in"),
    ] = Session.REGULAR,
) -> dict[str, Any]:
    stored = parse_bar_size(timeframe).stored
    if stored is None:
        raise QueryError(
            f"timeframe={timeframe!r}: gaps are reported for stored timeframes "
            "(1m 5m 15m 30m 1h 4h 1d 1w)",
            parameter="timeframe",
        )
    canonical = canonical_symbol(symbol)
    start_at, end_at = history.resolve_range(stored, start, end, datetime.now(UTC))
    tracked = get_symbol(db.conn, canonical)
    if tracked is None:
        raise UnknownSymbolError(f"symbol {canonical} is not tracked")
    expected = gaps.expected_times(
        stored,
        start_at,
        end_at,
        around_the_clock=tracked.asset_class.trades_around_the_clock,
        session=session,
        calendar=nyse(),
    )
    report = gaps.gap_report(expected, read_bar_times(db.conn, canonical, stored, start_at, end_at))
    return {
        "symbol": canonical,
        "timeframe": stored,
        "session": session,
        "start": start_at,
        "end": end_at,
        "totals": {
            "expected": report.expected,
            "present": report.present,
            "missing": report.missing,
            "flagged": report.flagged,
            "gap_flagged": report.gap_flagged,
            "unexpected": report.unexpected,
        },
        "gaps": [r.as_json() for r in report.ranges],
    }
