"""Which trading session a read keeps, and the session days a range covers.

`session` applies to intraday bars of stocks, ETFs and indices; crypto trades
around the clock and daily or longer bars are whole sessions, so both ignore it.
A bar is kept when its whole interval lies inside the session: 5-, 15- and
30-minute bars meet 09:30 and every close exactly; an hourly bar that straddles
the 09:30 open (09:00-10:00) is outside the regular session and dropped.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from market_data.calendar import NEW_YORK, MarketCalendar


class Session(StrEnum):
    REGULAR = "regular"  # 09:30 to the close (16:00, 13:00 on early closes)
    EXTENDED = "extended"  # 04:00 to four hours after the close, on session days
    ALL = "all"  # every stored bar (the default)


@dataclass(frozen=True, slots=True)
class SessionWindows:
    """The session intervals [opens[i], closes[i]) that fall in a range, oldest first,
    as the SQL filter takes them (one pair of arrays for every symbol of a read)."""

    opens: tuple[datetime, ...]
    closes: tuple[datetime, ...]


def windows(
    calendar: MarketCalendar, session: Session, start: datetime, end: datetime
) -> SessionWindows | None:
    """The intervals bars must lie inside for `session` over [start, end); None: no filter."""
    if session is Session.ALL:
        return None
    bounds = calendar.session_bounds if session is Session.REGULAR else calendar.extended_bounds
    first = start.astimezone(NEW_YORK).date() - timedelta(days=1)
    last = end.astimezone(NEW_YORK).date() + timedelta(days=1)
    pairs = [bounds(day) for day in calendar.sessions(first, last)]
    return SessionWindows(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def inside(windows: SessionWindows, time: datetime, length: timedelta) -> bool:
    """Whether the bar [time, time + length) lies inside one of the windows (the rule the
    SQL filter applies; the gap report's expected intervals use it too)."""
    index = bisect_right(windows.opens, time) - 1
    return index >= 0 and time + length <= windows.closes[index]
