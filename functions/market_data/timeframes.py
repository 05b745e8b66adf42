"""Bar timeframes and every fact that depends on one, declared once.

Adding a timeframe means adding one enum member and one row to _FACTS; the
validation limits, the request caps and defaults, the vendor spelling and the
dashboard (through GET /api/v1/timeframes) all read from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from market_data.errors import InvalidTimeframeError

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


# --- requested bar sizes: a stored timeframe or a multiple built from stored bars -------

# Intraday sources, finest first: a multiple is built from the finest stored series
# that divides it (finer parts keep session filtering exact at 09:30 and early closes).
_INTRADAY_SOURCES = (Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.M30,
                     Timeframe.H1, Timeframe.H4)  # fmt: skip


class SizeUnit(StrEnum):
    MINUTE = "m"
    HOUR = "h"
    DAY = "d"
    WEEK = "w"
    MONTH = "mo"


# The multiples each unit accepts: minutes and hours divide the next unit up (59 and
# 23 at most), months divide a year; days and weeks are bounded only so a bucket
# stays a bar (a year of sessions, a year of weeks).
_ALLOWED: dict[SizeUnit, frozenset[int]] = {
    SizeUnit.MINUTE: frozenset(range(1, 60)),
    SizeUnit.HOUR: frozenset(range(1, 24)),
    SizeUnit.DAY: frozenset(range(1, 253)),
    SizeUnit.WEEK: frozenset(range(1, 53)),
    SizeUnit.MONTH: frozenset({1, 2, 3, 4, 6, 12}),
}
_ALLOWED_TEXT = "Nm (1-59), Nh (1-23), Nd (1-252), Nw (1-52) or Nmo (1, 2, 3, 4, 6, 12)"


@dataclass(frozen=True, slots=True)
class BarSize:
    """A timeframe a request may ask for: a stored one, or a multiple aggregated on read.

    `count` sessions (Nd), weeks or months for the daily-based units; minutes and
    hours are exact lengths. Parse with parse_bar_size: the one place that does.
    """

    count: int
    unit: SizeUnit

    @property
    def value(self) -> str:
        return f"{self.count}{self.unit.value}"

    @property
    def stored(self) -> Timeframe | None:
        """The stored timeframe this is (read as stored), if it is one."""
        try:
            return Timeframe(self.value)
        except ValueError:
            return None

    @property
    def is_intraday(self) -> bool:
        return self.unit in (SizeUnit.MINUTE, SizeUnit.HOUR)

    @property
    def step(self) -> timedelta:
        """The bucket length of an intraday size (daily-based ones follow the calendar)."""
        minutes = self.count * (60 if self.unit is SizeUnit.HOUR else 1)
        return timedelta(minutes=minutes)

    def sources(self) -> tuple[Timeframe, ...]:
        """The stored timeframes this size can be built from, finest first."""
        if self.stored is not None:
            return (self.stored,)
        if not self.is_intraday:
            return (Timeframe.D1,)
        return tuple(t for t in _INTRADAY_SOURCES if self.step % t.duration == timedelta(0))

    @property
    def default_span(self) -> timedelta:
        """The range without `start`: the coarsest stored timeframe's not longer than it."""
        if self.stored is not None:
            return self.stored.default_span
        length = (
            self.step if self.is_intraday else timedelta(days=self.count * _UNIT_DAYS[self.unit])
        )
        fitting = [t for t in Timeframe if t.duration <= length]
        return max(fitting, key=lambda t: t.duration).default_span

    @property
    def max_span(self) -> timedelta:
        """The widest range: that of the parts read (366 days intraday, 50 years daily)."""
        return INTRADAY_MAX_SPAN if self.is_intraday else DAILY_MAX_SPAN


_UNIT_DAYS = {SizeUnit.DAY: 1, SizeUnit.WEEK: 7, SizeUnit.MONTH: 30}


@dataclass(frozen=True, slots=True)
class Multiples:
    """The multiples of one unit that parse_bar_size accepts, for GET /api/v1/timeframes."""

    unit: SizeUnit
    counts: tuple[int, ...]  # ascending; the timeframe is f"{count}{unit}"
    built_from: tuple[Timeframe, ...]  # the stored timeframes they read, finest first

    @property
    def is_intraday(self) -> bool:
        return BarSize(self.counts[0], self.unit).is_intraday

    @property
    def max_span(self) -> timedelta:
        return BarSize(self.counts[0], self.unit).max_span


def multiples() -> tuple[Multiples, ...]:
    """Every multiple a request may ask for, by unit, from the table the parser checks
    (so the listing cannot drift from what is accepted)."""
    listed = []
    for unit, allowed in _ALLOWED.items():
        counts = tuple(sorted(allowed))
        sources = {t for n in counts if (s := BarSize(n, unit)).stored is None for t in s.sources()}
        listed.append(Multiples(unit, counts, tuple(t for t in Timeframe if t in sources)))
    return tuple(listed)


def parse_bar_size(raw: str, name: str = "timeframe") -> BarSize:
    """A requested timeframe: a stored one (1m ... 1w) or an allowed multiple."""
    text = raw.strip().lower()
    digits = len(text) - len(text.lstrip("0123456789"))
    unit_text = text[digits:]
    try:
        count, unit = int(text[:digits]), SizeUnit(unit_text)
    except ValueError:
        raise InvalidTimeframeError(
            f"{name}={raw!r} is not a timeframe: use {_ALLOWED_TEXT}", parameter=name
        ) from None
    if count not in _ALLOWED[unit] or text[:1] == "0":
        raise InvalidTimeframeError(
            f"{name}={raw!r} is not an allowed multiple: use {_ALLOWED_TEXT}", parameter=name
        )
    return BarSize(count, unit)
