"""Timeframe parsing, bucket alignment and market age in sessions, against plain rules."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from market_data import resample
from market_data.calendar import NEW_YORK, nyse
from market_data.errors import InvalidTimeframeError
from market_data.latest import sessions_missed
from market_data.symbols import AssetClass
from market_data.timeframes import SizeUnit, Timeframe, parse_bar_size


@pytest.mark.parametrize("text", ["0m", "60m", "61m", "0h", "24h", "5mo", "7mo", "0d", "253d",
                                  "53w", "m", "1x", "-1m", "1.5h", "", "05m", "1 h"])  # fmt: skip
def test_bad_timeframes_are_refused_naming_the_parameter(text: str) -> None:
    with pytest.raises(InvalidTimeframeError, match="timeframe"):
        parse_bar_size(text)


def test_every_stored_timeframe_parses_to_itself_and_multiples_to_their_sources() -> None:
    for timeframe in Timeframe:
        assert parse_bar_size(timeframe.value).stored is timeframe
    assert parse_bar_size("10m").sources() == (Timeframe.M1, Timeframe.M5)
    assert parse_bar_size("2h").sources()[0] is Timeframe.M1
    assert parse_bar_size("8h").sources()[-1] is Timeframe.H4
    assert parse_bar_size("7m").sources() == (Timeframe.M1,)
    assert parse_bar_size("3MO").unit is SizeUnit.MONTH
    assert parse_bar_size("2w").sources() == (Timeframe.D1,)


def test_minute_buckets_cover_the_range_in_whole_utc_multiples() -> None:
    start, end = datetime(2024, 3, 8, 3, 17, tzinfo=UTC), datetime(2024, 3, 8, 9, 1, tzinfo=UTC)
    spec = resample.buckets(parse_bar_size("7m"), start, end, around_the_clock=True,
                            calendar=nyse())  # fmt: skip
    step = 7 * 60
    assert spec.start.timestamp() % step == 0 and spec.end.timestamp() % step == 0
    assert spec.start <= start < spec.start + timedelta(seconds=step)
    assert spec.end - timedelta(seconds=step) < end <= spec.end


def test_session_buckets_count_sessions_and_quarters_start_in_january() -> None:
    calendar = nyse()
    spec = resample.buckets(parse_bar_size("3mo"), datetime(2024, 5, 1, tzinfo=UTC),
                            datetime(2024, 9, 1, tzinfo=UTC), around_the_clock=False,
                            calendar=calendar)  # fmt: skip
    starts = [e.astimezone(NEW_YORK).date() for e in spec.edges]
    assert starts == [date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)]
    five = resample.buckets(parse_bar_size("5d"), datetime(2024, 1, 1, tzinfo=UTC),
                            datetime(2024, 2, 1, tzinfo=UTC), around_the_clock=False,
                            calendar=calendar)  # fmt: skip
    days = [e.astimezone(NEW_YORK).date() for e in five.edges]
    for first, second in pairwise(days):
        assert len(list(calendar.sessions(first, second - timedelta(days=1)))) == 5


def test_sessions_missed_equals_counting_closed_sessions_one_by_one() -> None:
    calendar, rng = nyse(), random.Random(7)
    for _ in range(300):
        bar = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 6 * 8760))
        now = bar + timedelta(hours=rng.randrange(0, 24 * 40))
        day, counted = bar.astimezone(NEW_YORK).date() + timedelta(days=1), 0
        while day <= now.astimezone(NEW_YORK).date():
            counted += calendar.is_session(day) and calendar.session_bounds(day)[1] <= now
            day += timedelta(days=1)
        assert sessions_missed(AssetClass.STOCK, bar, now, calendar) == counted
    crypto_bar = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert (
        sessions_missed(AssetClass.CRYPTO, crypto_bar, crypto_bar + timedelta(days=3), calendar)
        == 2
    )


def test_closed_time_over_long_ranges_equals_measuring_day_by_day() -> None:
    calendar, rng = nyse(), random.Random(11)
    for _ in range(200):
        start = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 7 * 525600))
        end = start + timedelta(minutes=rng.randrange(0, 3 * 525600))
        assert calendar.closed_time_between(start, end) == calendar._closed_by_day(start, end)
