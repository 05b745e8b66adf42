"""The latest bar of each series and how old it is, in hours and in market terms.

The read is one index probe per series (repositories/reads.py read_latest): the
cost grows with the number of symbols, never with the history stored.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from market_data.calendar import NEW_YORK, MarketCalendar, session_days
from market_data.corporate_actions import Adjustment
from market_data.errors import NoDataError
from market_data.health import market_age
from market_data.history import vendor_adjusted_refusal
from market_data.models import BAR_COLUMNS
from market_data.reads import Missing, MissingReason, nothing_to_read
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


def page_body(
    requested: Sequence[str] | None,
    rows: Sequence[tuple[Any, ...]],
    timeframe: Timeframe,
    adjustment: Adjustment,
    now: datetime,
    calendar: MarketCalendar,
) -> bytes:
    """Each symbol's latest bar with its ages, and the symbols without one and why, from
    rows of (symbol, asset_class, vendor_adjusted_from, vendor_adjusted_until, bar
    columns or NULLs) in symbol order. A bar the view cannot be served from (stored
    vendor-adjusted, in a view other than split) is refused by the historical
    endpoint's rule and listed in `missing`. Raises NotFound when no symbol has a bar
    (naming each in `missing`)."""
    found = []
    missing: list[Missing] = []
    # Most series' latest bars share a time (last night's session): each age once.
    aged: dict[tuple[AssetClass, datetime], dict[str, float | int]] = {}
    keys = ("symbol", "timeframe", *BAR_COLUMNS)
    tracked = set()
    for row in rows:
        symbol, asset_class, since, until = row[0], AssetClass(row[1]), row[2], row[3]
        values = row[4:]
        tracked.add(symbol)
        bar_time = values[0]
        if bar_time is None:
            missing.append(
                Missing(symbol, MissingReason.NO_DATA, f"{symbol} has no {timeframe} bars")
            )
            continue
        legacy = (since, until) if since is not None and until is not None else None
        refusal = vendor_adjusted_refusal(
            symbol, timeframe, adjustment, legacy, bar_time, bar_time + timedelta(microseconds=1)
        )
        if refusal is not None:
            missing.append(Missing(symbol, MissingReason.VENDOR_ADJUSTED, refusal.detail))
            continue
        bar = dict(zip(keys, (symbol, timeframe.value, *values), strict=True))
        key = (asset_class, bar_time)
        if key not in aged:
            aged[key] = ages(asset_class, bar_time, now, calendar)
        found.append({"symbol": symbol, "asset_class": asset_class.value, "bar": bar, **aged[key]})
    missing += [
        Missing(symbol, MissingReason.NOT_TRACKED, f"{symbol} is not tracked")
        for symbol in requested or ()
        if symbol not in tracked
    ]
    missing.sort(key=lambda m: m.symbol)
    if not found:
        if not missing:  # no symbol asked, and none active
            raise NoDataError(f"no symbol has {timeframe} bars", missing=[])
        raise nothing_to_read(missing)
    return orjson.dumps(
        {
            "timeframe": timeframe.value,
            "adjustment": adjustment.value,
            "timestamp": now,
            "latest": found,
            "missing": [m.as_json() for m in missing],
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
