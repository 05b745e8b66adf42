"""The NYSE trading calendar, from a small data file built by scripts/build_calendar.py.

Stocks, ETFs and indices follow NYSE sessions (09:30-16:00 New York time, early
closes on some days, no weekends or holidays); crypto trades around the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")


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

    def session_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Open and close of a session day, in UTC."""
        close = self._early_closes.get(day, time(16, 0))
        opens = datetime.combine(day, time(9, 30), NEW_YORK)
        closes = datetime.combine(day, close, NEW_YORK)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def closed_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much of [start, end) falls on whole New York days with no session.

        Used to judge data age: a bar from Friday is not old on Sunday.
        """
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
def nyse() -> MarketCalendar:
    raw = json.loads(files("market_data").joinpath("data/nyse_calendar.json").read_text())
    early = {
        date.fromisoformat(item[:10]): time.fromisoformat(item[11:]) for item in raw["early_closes"]
    }
    holidays = {date.fromisoformat(item) for item in raw["holidays"]}
    return MarketCalendar(holidays, early, raw["last_year"])
