"""Where the bars of a multiple timeframe begin and end: the alignment rules.

A multiple is aggregated in SQL from stored parts (repositories/reads.py); this
module decides which parts make up each bucket and what the bucket is stamped:

- minutes and hours: UTC multiples of the length since 1970-01-01 (a 2h bar
  starts at 00:00, 02:00, ... UTC), so every bucket has the same parts whatever
  the range asked for;
- Nd: N consecutive exchange sessions (crypto: N UTC days), counted from the
  first session of 1970, stamped like the first day's daily bar (New York
  midnight of its session, UTC midnight for crypto);
- Nw: N weeks starting on Monday, counted from Monday 1970-01-05;
- Nmo: N calendar months, counted from January (3mo are the quarters).

A bucket that overlaps the requested range is returned whole, built from all
its parts, even those outside the range: a bar never depends on the range asked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from market_data.calendar import NEW_YORK, MarketCalendar, session_days
from market_data.timeframes import BarSize, SizeUnit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH_MONDAY = date(1970, 1, 5)


@dataclass(frozen=True, slots=True)
class Buckets:
    """How one asset kind's parts group into bars over a read's (widened) window.

    Intraday sizes bin by `step` from 1970; daily-based ones by `edges`, the bucket
    starts in order with the end of the last one after them.
    """

    start: datetime  # parts are read from here ...
    end: datetime  # ... to here (exclusive)
    step: timedelta | None = None
    edges: tuple[datetime, ...] = ()


def _stamp(day: date, around_the_clock: bool) -> datetime:
    """A daily bar's time: New York midnight of its session (UTC midnight for crypto)."""
    zone = UTC if around_the_clock else NEW_YORK
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _first_day(instant: datetime, around_the_clock: bool) -> date:
    """The first day whose daily bar is stamped at or after `instant`."""
    day = instant.astimezone(UTC if around_the_clock else NEW_YORK).date()
    return day if _stamp(day, around_the_clock) >= instant else day + timedelta(days=1)


def _last_day(instant: datetime, around_the_clock: bool) -> date:
    """The last day whose daily bar is stamped before `instant`."""
    day = instant.astimezone(UTC if around_the_clock else NEW_YORK).date()
    return day if _stamp(day, around_the_clock) < instant else day - timedelta(days=1)


def _group_starts(
    size: BarSize, first: date, last: date, around_the_clock: bool, calendar: MarketCalendar
) -> list[date]:
    """The first day of every bucket from the one holding `first` to the one after `last`."""
    n = size.count
    if size.unit is SizeUnit.MONTH:
        lo = (first.year * 12 + first.month - 1) // n
        hi = (last.year * 12 + last.month - 1) // n + 1
        return [date(g * n // 12, g * n % 12 + 1, 1) for g in range(lo, hi + 1)]
    if size.unit is SizeUnit.WEEK:
        lo = (first - _EPOCH_MONDAY).days // 7 // n
        hi = (last - _EPOCH_MONDAY).days // 7 // n + 1
        return [_EPOCH_MONDAY + timedelta(weeks=g * n) for g in range(lo, hi + 1)]
    if around_the_clock:
        lo, hi = (first - _EPOCH_DAY).days // n, (last - _EPOCH_DAY).days // n + 1
        return [_EPOCH_DAY + timedelta(days=g * n) for g in range(lo, hi + 1)]
    sessions = session_days(calendar)  # Nd buckets count session ordinals since 1970
    first_index, last_index = bisect_left(sessions, first), bisect_right(sessions, last) - 1
    if last_index < first_index:  # no session in the range
        return []
    lo, hi = first_index // n, last_index // n + 1
    return [sessions[min(g * n, len(sessions) - 1)] for g in range(lo, hi + 1)]


def buckets(
    size: BarSize,
    start: datetime,
    end: datetime,
    *,
    around_the_clock: bool,
    calendar: MarketCalendar,
) -> Buckets:
    """The buckets of `size` that overlap [start, end), for one asset kind."""
    if size.is_intraday:
        step = size.step
        low = EPOCH + (start - EPOCH) // step * step
        high = EPOCH + -((EPOCH - end) // step) * step  # ceiling
        return Buckets(low, high, step=step)
    first, last = _first_day(start, around_the_clock), _last_day(end, around_the_clock)
    days = _group_starts(size, first, last, around_the_clock, calendar) if first <= last else []
    if not days:  # no daily bar could fall in the range: an empty window
        return Buckets(start, start, edges=(start,))
    edges = tuple(_stamp(day, around_the_clock) for day in days)
    return Buckets(edges[0], edges[-1], edges=edges)
