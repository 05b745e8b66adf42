"""The gap report: which bars a series should hold in a range, and which it lacks.

Expected bars follow the exchange calendar: a daily bar per NYSE session (every
UTC day for crypto), a weekly bar per week with a session (every week for
crypto), and for intraday bars every UTC-aligned interval that lies inside a
session on a session day (regular hours by default, the sessions module's
rule; crypto: every interval). Missing ones are merged into ranges of
consecutive expected bars, so a missing Friday and Monday are one range.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from market_data import sessions
from market_data.calendar import NEW_YORK, MarketCalendar
from market_data.resample import EPOCH
from market_data.sessions import Session
from market_data.timeframes import Timeframe


def _midnight(day: date, around_the_clock: bool) -> datetime:
    return datetime.combine(day, time(0), UTC if around_the_clock else NEW_YORK).astimezone(UTC)


def expected_times(
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    *,
    around_the_clock: bool,
    session: Session,
    calendar: MarketCalendar,
) -> Iterator[datetime]:
    """Every bar time the series should hold in [start, end), oldest first."""
    zone = UTC if around_the_clock else NEW_YORK
    first = start.astimezone(zone).date() - timedelta(days=7)
    last = end.astimezone(zone).date() + timedelta(days=1)
    if timeframe is Timeframe.D1 or timeframe is Timeframe.W1:
        weekly = timeframe is Timeframe.W1
        day = first - timedelta(days=first.weekday()) if weekly else first
        while day <= last:
            if weekly:
                days = [day + timedelta(days=i) for i in range(7)]
                expected = around_the_clock or any(calendar.is_session(d) for d in days)
            else:
                expected = around_the_clock or calendar.is_session(day)
            stamp = _midnight(day, around_the_clock)
            if expected and start <= stamp < end:
                yield stamp
            day += timedelta(weeks=1) if weekly else timedelta(days=1)
        return
    step = timeframe.duration
    if around_the_clock:
        at = EPOCH + -((EPOCH - start) // step) * step
        while at < end:
            yield at
            at += step
        return
    kept = Session.EXTENDED if session is Session.ALL else session
    windows = sessions.windows(calendar, kept, start, end)
    assert windows is not None
    for opens, closes in zip(windows.opens, windows.closes, strict=True):
        at = EPOCH + -((EPOCH - max(opens, start)) // step) * step
        while at + step <= closes and at < end:
            yield at
            at += step


@dataclass(frozen=True, slots=True)
class GapRange:
    first: datetime  # the first missing bar's time
    last: datetime  # the last missing bar's time
    bars: int

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "bars": self.bars}


@dataclass(frozen=True, slots=True)
class GapReport:
    expected: int
    present: int
    missing: int
    flagged: int  # present bars stored flagged (not validated)
    gap_flagged: int  # present bars validation marked gap_detected
    unexpected: int  # stored bars at times the calendar expects none
    ranges: tuple[GapRange, ...]


def gap_report(
    expected: Sequence[datetime] | Iterator[datetime],
    stored: Sequence[tuple[datetime, bool, bool]],
) -> GapReport:
    """Compare the expected bar times with the stored (time, validated, gap_detected)."""
    by_time = {row[0]: row for row in stored}
    ranges: list[GapRange] = []
    run: list[datetime] = []
    counts = {"expected": 0, "present": 0, "flagged": 0, "gap_flagged": 0}
    matched: set[datetime] = set()
    for at in expected:
        counts["expected"] += 1
        row = by_time.get(at)
        if row is None:
            run.append(at)
            continue
        matched.add(at)
        counts["present"] += 1
        counts["flagged"] += not row[1]
        counts["gap_flagged"] += row[2]
        if run:
            ranges.append(GapRange(run[0], run[-1], len(run)))
            run = []
    if run:
        ranges.append(GapRange(run[0], run[-1], len(run)))
    return GapReport(
        expected=counts["expected"],
        present=counts["present"],
        missing=counts["expected"] - counts["present"],
        flagged=counts["flagged"],
        gap_flagged=counts["gap_flagged"],
        unexpected=len(by_time) - len(matched),
        ranges=tuple(ranges),
    )
