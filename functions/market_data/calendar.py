"""The NYSE trading calendar, from a small data file built by scripts/build_calendar.py.

Stocks, ETFs and indices follow NYSE sessions (09:30-16:00 New York time, early
closes on some days, no weekends or holidays); crypto trades around the clock.
Stocks and ETFs also trade in extended hours on session days: pre-market from
04:00 and post-market for four hours after the close (to 20:00, or to 17:00
after a 13:00 early close), which is what Polygon's aggregates contain.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
PRE_MARKET_OPEN = time(4, 0)
POST_MARKET_HOURS = timedelta(hours=4)  # the post-market session after the close
PRE_MARKET_MINUTES = 330  # 04:00 to 09:30
POST_MARKET_MINUTES = 240


class MarketCalendar:
    def __init__(self, holidays: set[date], early_closes: dict[date, time], last_year: int):
        self._holidays = holidays
        self._early_closes = early_closes
        self.last_year = last_year

    def is_session(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def sessions(self, first: date, last: date) -> Iterator[date]:
        """Every session day from first to last, both included."""
        day = first
        while day <= last:
            if self.is_session(day):
                yield day
            day += timedelta(days=1)

    def regular_close(self, day: date) -> time:
        """When the regular session of a session day ends (16:00, 13:00 on early closes)."""
        return self._early_closes.get(day, REGULAR_CLOSE)

    def regular_minutes(self, day: date) -> int:
        """Length of a session day's regular session in minutes (390, or 210)."""
        close = self.regular_close(day)
        return (close.hour - REGULAR_OPEN.hour) * 60 + close.minute - REGULAR_OPEN.minute

    def session_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Open and close of a session day, in UTC."""
        opens = datetime.combine(day, REGULAR_OPEN, NEW_YORK)
        closes = datetime.combine(day, self.regular_close(day), NEW_YORK)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def extended_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Pre-market open (04:00) and post-market close (close + 4 h) of a session day, UTC."""
        opens = datetime.combine(day, PRE_MARKET_OPEN, NEW_YORK)
        closes = datetime.combine(day, self.regular_close(day), NEW_YORK) + POST_MARKET_HOURS
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def closed_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) falls on whole New York days with no session.

        Used to judge data age: a bar from Friday is not old on Sunday. The days
        strictly inside the range are counted by binary search (a session day is
        always 24 hours long: clocks change on Sundays), so a years-old bar costs
        no more than a recent one; the first and last days are measured.
        """
        if end <= start:
            return timedelta(0)
        first = start.astimezone(NEW_YORK).date()
        last = end.astimezone(NEW_YORK).date()
        if (last - first).days < 2:
            return self._closed_by_day(start, end)
        inner_start = datetime.combine(first + timedelta(days=1), time(0), NEW_YORK)
        inner_end = datetime.combine(last, time(0), NEW_YORK)
        days = session_days(self)
        sessions = bisect_left(days, last) - bisect_left(days, first + timedelta(days=1))
        inner = (inner_end - inner_start) - sessions * timedelta(days=1)
        return self._closed_by_day(start, inner_start) + inner + self._closed_by_day(inner_end, end)

    def _closed_by_day(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return timedelta(0)
        closed = timedelta(0)
        day = start.astimezone(NEW_YORK).date()
        last = end.astimezone(NEW_YORK).date()
        while day <= last:
            if not self.is_session(day):
                day_start = datetime.combine(day, time(0), NEW_YORK)
                day_end = datetime.combine(day + timedelta(days=1), time(0), NEW_YORK)
                overlap = min(end, day_end) - max(start, day_start)
                closed += max(overlap, timedelta(0))
            day += timedelta(days=1)
        return closed


@cache
def session_days(calendar: MarketCalendar) -> tuple[date, ...]:
    """Every session day from 1970 to 2100, in order: built once, then counts of sessions
    and session ordinals are binary searches in it."""
    return tuple(calendar.sessions(date(1970, 1, 1), date(2100, 12, 31)))


@cache
def volume_curve(regular_minutes: int = 390) -> tuple[float, ...]:
    """How a US equity session's volume is spread over its extended hours.

    Element i is the share of the day's volume traded before minute i after
    04:00 New York time (so element 0 is 0 and the last is 1), for a session
    whose regular part lasts `regular_minutes`. The shape is the familiar one:
    a thin pre-market that picks up towards the open, a U-shaped regular session
    (busiest in the first and last half hours) and a post-market that fades
    after the close; about 3 % of the volume trades before the open and 2 %
    after the close. The synthetic provider shapes its volume with it, and
    validation judges intraday volume against it.
    """
    close = PRE_MARKET_MINUTES + regular_minutes
    weights = []
    for i in range(close + POST_MARKET_MINUTES):
        if i < PRE_MARKET_MINUTES:
            weight = 0.012 + 0.1 * math.exp(-(PRE_MARKET_MINUTES - i) / 45)
        elif i < close:
            weight = (
                0.7
                + 2.2 * math.exp(-(i - PRE_MARKET_MINUTES) / 20)
                + 1.5 * math.exp(-(close - 1 - i) / 15)
            )
        else:
            weight = 0.01 + 0.12 * math.exp(-(i - close) / 25)
        weights.append(weight)
    total = sum(weights)
    cumulative, running = [0.0], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running / total)
    cumulative[-1] = 1.0
    return tuple(cumulative)


@cache
def nyse() -> MarketCalendar:
    raw = json.loads(files("market_data").joinpath("data/nyse_calendar.json").read_text())
    early = {
        date.fromisoformat(item[:10]): time.fromisoformat(item[11:]) for item in raw["early_closes"]
    }
    holidays = {date.fromisoformat(item) for item in raw["holidays"]}
    return MarketCalendar(holidays, early, raw["last_year"])
