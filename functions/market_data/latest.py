"""The latest bar of each series and how old it is, in hours and in market terms."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from market_data.calendar import NEW_YORK, MarketCalendar, session_days
from market_data.corporate_actions import Adjustment
from market_data.errors import NoDataError, UnknownSymbolError
from market_data.health import market_age
from market_data.models import BAR_COLUMNS
from market_data.reads import (
    Missing,
    MissingReason,
    MultiBarQuery,
    ReadPlan,
    SeriesRead,
    SymbolFacts,
)
from market_data.symbols import AssetClass
from market_data.timeframes import BarSize, Timeframe


def plan_latest(
    symbols: tuple[str, ...], facts: Mapping[str, SymbolFacts], timeframe: Timeframe
) -> ReadPlan:
    """One read per series: the window of its latest bar, which series_stats names, so
    the cost is one index probe per symbol whatever the history stored."""
    reads: list[SeriesRead] = []
    missing: list[Missing] = []
    for symbol in symbols:
        known = facts.get(symbol)
        if known is None:
            missing.append(Missing(symbol, MissingReason.NOT_TRACKED, f"{symbol} is not tracked"))
            continue
        stats = known.series.get(timeframe)
        if stats is None or stats.last_time is None:
            missing.append(
                Missing(symbol, MissingReason.NO_DATA, f"{symbol} has no {timeframe} bars")
            )
            continue
        last = stats.last_time
        reads.append(
            SeriesRead(
                symbol,
                timeframe,
                known.tracked.asset_class.trades_around_the_clock,
                last,
                last + timedelta(microseconds=1),
            )
        )
    if not reads:
        listed = [m.as_json() for m in missing]
        if all(m.reason is MissingReason.NOT_TRACKED for m in missing):
            raise UnknownSymbolError("none of the symbols is tracked", missing=listed)
        raise NoDataError(f"no symbol has {timeframe} bars", missing=listed)
    return ReadPlan(reads=tuple(reads), missing=tuple(missing), resampled=False)


def latest_query(
    plan: ReadPlan, size: BarSize, adjustment: Adjustment, now: datetime
) -> MultiBarQuery:
    """The read of the planned one-bar windows: every bar as stored, flags and all."""
    return MultiBarQuery(
        symbols=tuple(r.symbol for r in plan.reads),
        size=size,
        start=now,
        end=now,
        validated_only=False,
        min_quality=0.0,
        limit=len(plan.reads),
        adjustment=adjustment,
    )


def page_body(
    rows: Sequence[tuple[Any, ...]],
    plan: ReadPlan,
    facts: Mapping[str, SymbolFacts],
    query: MultiBarQuery,
    now: datetime,
    calendar: MarketCalendar,
) -> bytes:
    """Each symbol's latest bar with its ages, and the symbols without one."""
    timeframe = query.size.value
    found = []
    # Most series' latest bars share a time (last night's session): each age once.
    aged: dict[tuple[AssetClass, datetime], dict[str, float | int]] = {}
    for row in rows:
        symbol = row[0]
        bar = dict(zip(("symbol", "timeframe", *BAR_COLUMNS), (symbol, timeframe, *row[1:]),
                       strict=True))  # fmt: skip
        asset_class = facts[symbol].tracked.asset_class
        key = (asset_class, bar["time"])
        if key not in aged:
            aged[key] = ages(asset_class, bar["time"], now, calendar)
        found.append({"symbol": symbol, "asset_class": asset_class.value, "bar": bar, **aged[key]})
    return orjson.dumps(
        {
            "timeframe": timeframe,
            "adjustment": query.adjustment.value,
            "timestamp": now,
            "latest": found,
            "missing": [m.as_json() for m in plan.missing],
        },
        option=orjson.OPT_UTC_Z,
    )


def sessions_missed(
    asset_class: AssetClass, bar_time: datetime, now: datetime, calendar: MarketCalendar
) -> int:
    """Sessions that have ended since the bar's own session, with no newer bar stored:
    NYSE sessions for stocks, ETFs and indices, UTC days for crypto (24/7)."""
    if asset_class.trades_around_the_clock:
        return max((now.astimezone(UTC).date() - bar_time.astimezone(UTC).date()).days - 1, 0)
    days = session_days(calendar)
    bar_day, today = bar_time.astimezone(NEW_YORK).date(), now.astimezone(NEW_YORK).date()
    ended = bisect_right(days, today) - bisect_right(days, bar_day)
    if ended and calendar.is_session(today) and calendar.session_bounds(today)[1] > now:
        ended -= 1  # today's session has not closed yet
    return max(ended, 0)


def ages(
    asset_class: AssetClass, bar_time: datetime, now: datetime, calendar: MarketCalendar
) -> dict[str, float | int]:
    hour = timedelta(hours=1)
    return {
        "age_hours": round(max(now - bar_time, timedelta(0)) / hour, 2),
        "market_age_hours": round(market_age(asset_class, bar_time, now) / hour, 2),
        "sessions_missed": sessions_missed(asset_class, bar_time, now, calendar),
    }
