"""Time ranges: the parameter spelling, and splitting a range longer than the server's cap.

The API reads `start`/`end` as `YYYY-MM-DD` (a whole UTC day; `end` inclusive)
or RFC 3339 (a timestamp without offset is UTC), and refuses a request that
spans more than its cap. A longer range is split here, in one place, into
windows that meet exactly: each inner boundary is sent as a timestamp, and the
server's inclusive `end` (one microsecond added) makes windows [a, b) with no
bar in two of them and none in neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

TimeLike = str | date | datetime

# The widest range one request may span, by timeframe. Mirrors the server's
# `_MAX_SPAN` in functions/market_data/history.py (366 days of intraday bars,
# 50 years of daily and weekly ones); change both together.
INTRADAY_MAX_SPAN = timedelta(days=366)
DAILY_MAX_SPAN = timedelta(days=50 * 366)
MAX_SPAN: dict[str, timedelta] = {
    "1m": INTRADAY_MAX_SPAN,
    "5m": INTRADAY_MAX_SPAN,
    "15m": INTRADAY_MAX_SPAN,
    "30m": INTRADAY_MAX_SPAN,
    "1h": INTRADAY_MAX_SPAN,
    "4h": INTRADAY_MAX_SPAN,
    "1d": DAILY_MAX_SPAN,
    "1w": DAILY_MAX_SPAN,
}
# An open-ended window (no `end`: the server reads "now" on its own clock) keeps
# this much below the cap, so clock skew never pushes it over.
OPEN_END_MARGIN = timedelta(days=1)
_MULTIPLE = re.compile(r"(\d+)(mo|m|h|d|w)")
_ONE_MICROSECOND = timedelta(microseconds=1)


def max_span(timeframe: str) -> timedelta:
    """The server's cap for a timeframe; multiples such as `2h` or `3d` by their unit,
    anything unknown at the (smaller) intraday cap."""
    known = MAX_SPAN.get(timeframe)
    if known is not None:
        return known
    match = _MULTIPLE.fullmatch(timeframe.strip().lower())
    if match and match.group(2) not in ("m", "h"):
        return DAILY_MAX_SPAN
    return INTRADAY_MAX_SPAN


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with a `Z`; a naive datetime is taken as UTC, as the server does."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_param(value: TimeLike | None) -> str | None:
    """The query-parameter spelling of a start or end."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return value.strip()


def parse_param(text: str) -> tuple[datetime, bool] | None:
    """(instant, whole day?) as the server reads it, or None when it is not a date."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), UTC), True
        instant = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC), False


@dataclass(frozen=True, slots=True)
class Window:
    """One request's range: the parameters to send, and the instants they mean."""

    start: str | None
    end: str | None
    start_at: datetime | None = None  # inclusive
    end_at: datetime | None = None  # exclusive (for an open end: the client's now)


def plan_windows(
    timeframe: str,
    start: TimeLike | None,
    end: TimeLike | None,
    *,
    now: datetime,
    descending: bool = False,
) -> list[Window]:
    """The windows to request, in the order the bars should come back.

    A range within the cap, a range without `start` (the server's default window),
    and anything that does not parse (the server explains the problem) is one
    window with the parameters as given.
    """
    start_text, end_text = to_param(start), to_param(end)
    start_at = parse_param(start_text) if start_text else None
    end_parsed = parse_param(end_text) if end_text else None
    if start_at is None or (end_text and end_parsed is None):
        return [Window(start_text, end_text)]
    begin = start_at[0]
    if end_parsed is None:
        finish = now.astimezone(UTC)
    else:
        finish = end_parsed[0] + (timedelta(days=1) if end_parsed[1] else _ONE_MICROSECOND)
    cap = max_span(timeframe)
    last_cap = cap if end_text else cap - OPEN_END_MARGIN
    if finish - begin <= last_cap:
        return [Window(start_text, end_text, begin, finish)]

    windows: list[Window] = []
    lower, sent_start = begin, start_text
    while finish - lower > last_cap:
        upper = lower + cap
        if not end_text and finish - lower <= cap:
            upper = lower + last_cap  # the open window after this one stays under the cap
        windows.append(Window(sent_start, format_instant(upper - _ONE_MICROSECOND), lower, upper))
        lower, sent_start = upper, format_instant(upper)
    windows.append(Window(sent_start, end_text, lower, finish))
    return windows[::-1] if descending else windows
