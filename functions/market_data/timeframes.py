"""Bar timeframes and every fact that depends on one, declared once.

Adding a timeframe means adding one enum member and one row to _FACTS; the
validation limits, the request caps and defaults, the vendor spelling and the
dashboard (through GET /api/v1/timeframes) all read from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# One intraday request may cover at most this much; daily and weekly bars 50 years.
INTRADAY_MAX_SPAN = timedelta(days=366)
DAILY_MAX_SPAN = timedelta(days=50 * 366)


@dataclass(frozen=True, slots=True)
class TimeframeFacts:
    duration: timedelta
    polygon_range: tuple[int, str]  # (multiplier, timespan) for Polygon's aggregates
    default_span: timedelta  # the range a request without `start` covers
    # Share of the asset class's daily move limit a bar of this length may move
    # before validation calls it suspect (square-root-ish of the duration).
    move_factor: float
    chart_span: timedelta  # the range the dashboard's chart opens with


class Timeframe(StrEnum):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"

    @property
    def facts(self) -> TimeframeFacts:
        return _FACTS[self]

    @property
    def duration(self) -> timedelta:
        return _FACTS[self].duration

    @property
    def is_intraday(self) -> bool:
        return self.duration < timedelta(days=1)

    @property
    def polygon_range(self) -> tuple[int, str]:
        """(multiplier, timespan) for Polygon's aggregates endpoint."""
        return _FACTS[self].polygon_range

    @property
    def default_span(self) -> timedelta:
        return _FACTS[self].default_span

    @property
    def max_span(self) -> timedelta:
        """The widest range one request may ask for."""
        return INTRADAY_MAX_SPAN if self.is_intraday else DAILY_MAX_SPAN

    @property
    def move_factor(self) -> float:
        return _FACTS[self].move_factor


_FACTS = {
    Timeframe.M1: TimeframeFacts(
        timedelta(minutes=1), (1, "minute"), timedelta(days=2), 0.15, timedelta(days=1)
    ),
    Timeframe.M5: TimeframeFacts(
        timedelta(minutes=5), (5, "minute"), timedelta(days=10), 0.2, timedelta(days=7)
    ),
    Timeframe.M15: TimeframeFacts(
        timedelta(minutes=15), (15, "minute"), timedelta(days=10), 0.25, timedelta(days=30)
    ),
    Timeframe.M30: TimeframeFacts(
        timedelta(minutes=30), (30, "minute"), timedelta(days=10), 0.3, timedelta(days=30)
    ),
    Timeframe.H1: TimeframeFacts(
        timedelta(hours=1), (1, "hour"), timedelta(days=60), 0.4, timedelta(days=30)
    ),
    Timeframe.H4: TimeframeFacts(
        timedelta(hours=4), (4, "hour"), timedelta(days=60), 0.6, timedelta(days=91)
    ),
    Timeframe.D1: TimeframeFacts(
        timedelta(days=1), (1, "day"), timedelta(days=365), 1.0, timedelta(days=365)
    ),
    Timeframe.W1: TimeframeFacts(
        timedelta(weeks=1), (1, "week"), timedelta(days=5 * 365), 2.0, timedelta(days=1826)
    ),
}

DEFAULT_TIMEFRAMES: tuple[Timeframe, ...] = (
    Timeframe.M5,
    Timeframe.M15,
    Timeframe.M30,
    Timeframe.H1,
    Timeframe.H4,
    Timeframe.D1,
    Timeframe.W1,
)
