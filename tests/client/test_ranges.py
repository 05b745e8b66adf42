"""Splitting a range at the server's cap: windows that meet exactly, in the order asked."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from market_data.history import parse_instant, resolve_range
from market_data.timeframes import Timeframe
from mdw_client._ranges import (
    DAILY_MAX_SPAN,
    INTRADAY_MAX_SPAN,
    OPEN_END_MARGIN,
    Window,
    max_span,
    plan_windows,
    to_param,
)

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)


def server_range(timeframe: str, window: Window) -> tuple[datetime, datetime]:
    """What the server makes of a window's parameters (its own parser)."""
    return resolve_range(Timeframe(timeframe), window.start, window.end, NOW)


@pytest.mark.parametrize(
    ("timeframe", "start", "end"),
    [
        ("1m", "2020-01-01", "2024-12-31"),
        ("4h", "2023-03-15T09:30:00-04:00", "2024-12-31T16:00:00Z"),
        ("1h", "2024-01-01", None),
        ("1d", "1970-01-01", "2099-12-31"),
        ("1h", "2025-06-15", None),  # just over the cap of an open-ended window
    ],
)
def test_windows_cover_the_range_exactly_and_each_is_within_the_cap(
    timeframe: str, start: str, end: str | None
) -> None:
    windows = plan_windows(timeframe, start, end, now=NOW)
    assert len(windows) > 1

    ranges = [server_range(timeframe, w) for w in windows]  # the server accepts every one
    for (_, upper), (lower, _) in itertools.pairwise(ranges):
        assert upper == lower  # no gap, no overlap
    assert ranges[0][0] == parse_instant(start, "start")[0]
    if end is None:
        assert ranges[-1][1] == NOW and windows[-1].end is None  # the server's own "now"
    else:
        instant, whole_day = parse_instant(end, "end")
        step = timedelta(days=1) if whole_day else timedelta(microseconds=1)
        assert ranges[-1][1] == instant + step
    assert windows[0].start == start and windows[-1].end == end


def test_a_range_within_the_cap_is_sent_as_given() -> None:
    assert plan_windows("1d", "2024-01-01", "2024-12-31", now=NOW) == [
        Window("2024-01-01", "2024-12-31", datetime(2024, 1, 1, tzinfo=UTC),
               datetime(2025, 1, 1, tzinfo=UTC)),
    ]  # fmt: skip
    assert plan_windows("1m", None, "2024-12-31", now=NOW) == [Window(None, "2024-12-31")]
    assert plan_windows("1m", "yesterday", None, now=NOW) == [Window("yesterday", None)]


def test_descending_windows_come_newest_first() -> None:
    ascending = plan_windows("1h", "2022-01-01", "2024-12-31", now=NOW)
    assert (
        plan_windows("1h", "2022-01-01", "2024-12-31", now=NOW, descending=True)
        == (ascending[::-1])
    )


def test_an_open_ended_window_stays_clear_of_the_cap() -> None:
    windows = plan_windows("1h", NOW - INTRADAY_MAX_SPAN + timedelta(hours=1), None, now=NOW)
    assert len(windows) == 2 and windows[-1].end is None
    assert windows[-1].start_at is not None
    assert NOW - windows[-1].start_at <= INTRADAY_MAX_SPAN - OPEN_END_MARGIN


def test_caps_by_timeframe() -> None:
    assert max_span("5m") == max_span("4h") == INTRADAY_MAX_SPAN == timedelta(days=366)
    assert max_span("1d") == max_span("1w") == DAILY_MAX_SPAN == timedelta(days=50 * 366)
    assert max_span("3d") == max_span("1mo") == DAILY_MAX_SPAN  # multiples the server may add
    assert max_span("2h") == max_span("weird") == INTRADAY_MAX_SPAN


def test_parameter_spellings() -> None:
    assert to_param(date(2024, 1, 2)) == "2024-01-02"
    assert to_param(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"  # naive is UTC
    assert to_param(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2024-01-02T03:04:05.000006Z"
    assert to_param(" 2024-01-02 ") == "2024-01-02" and to_param(None) is None
