from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from market_data import history
from market_data.errors import InvalidCursorError, InvalidDateError, QueryError
from market_data.models import BarPageQuery
from market_data.repositories.bars import MAX_NOTES_LENGTH
from market_data.timeframes import Timeframe
from tests.helpers import utc

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
NOW = utc(2025, 6, 1, 12)


def _query(**changes: object) -> BarPageQuery:
    base = BarPageQuery("AAPL", Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1), True, 0.85, 100)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_full_page_of_worst_case_bars_fits_in_a_lambda_response() -> None:
    widest_float = -1.2345678901234567e-300
    row = (
        datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), widest_float, widest_float,
        widest_float, widest_float, widest_float, widest_float, -(2**63), "x" * 40, False,
        0.123456789, "n" * MAX_NOTES_LENGTH, False, False,
        datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )  # fmt: skip
    # The longest canonical symbol (ten characters and a class, or a ten-character coin),
    # repeated on every row; Lambda's limit counts the body as an escaped JSON string.
    query = _query(symbol="ABCDEFGHIJ-USD", timeframe=Timeframe.M15)
    body = history.page_body(query, [row] * history.MAX_LIMIT, "c" * 200, "s" * 40, "e" * 40)
    assert len(orjson.dumps({"body": body.decode()})) < LAMBDA_RESPONSE_LIMIT
    csv_body = history.page_csv([row] * history.MAX_LIMIT)
    assert len(csv_body.encode()) < LAMBDA_RESPONSE_LIMIT


def test_dates_are_whole_utc_days_and_end_is_inclusive() -> None:
    start, end = history.resolve_range(Timeframe.D1, "2024-01-01", "2024-01-31", NOW)
    assert (start, end) == (utc(2024, 1, 1), utc(2024, 2, 1))


def test_rfc3339_timestamps_are_accepted_and_end_instant_is_included() -> None:
    start, end = history.resolve_range(
        Timeframe.M5, "2024-01-02T14:30:00Z", "2024-01-02T10:00:00-05:00", NOW
    )
    assert start == utc(2024, 1, 2, 14, 30)
    assert end == utc(2024, 1, 2, 15, 0) + timedelta(microseconds=1)


def test_defaults_cover_a_recent_window() -> None:
    start, end = history.resolve_range(Timeframe.D1, None, None, NOW)
    assert end == NOW
    assert end - start == timedelta(days=365)


def test_a_start_without_end_reads_forward_to_now_whatever_the_span() -> None:
    start, end = history.resolve_range(Timeframe.M5, "2020-01-01", None, NOW)
    assert (start, end) == (utc(2020, 1, 1), NOW)
    with pytest.raises(QueryError) as capped:  # an explicit end still caps the range
        history.resolve_range(Timeframe.M5, "2020-01-01", "2025-06-01", NOW)
    assert capped.value.slug == "range-too-large"


def test_the_next_page_of_an_open_ended_request_keeps_its_window_uncapped() -> None:
    first = _query(timeframe=Timeframe.M5, start=utc(2020, 1, 1), end=NOW)
    cursor = history.encode_cursor(first, utc(2020, 1, 2, 14, 30))
    later = replace(first, end=NOW + timedelta(hours=1))  # the clock moved on
    following = history.continue_query(cursor, later, start_given=True, end_given=False)
    assert (following.start, following.end) == (first.start, NOW)
    assert following.after == utc(2020, 1, 2, 14, 30)


def test_csv_booleans_are_spelled_like_json() -> None:
    row = (utc(2024, 1, 2, 5), 1.0, 2.0, 0.5, 1.5, 10.0, 1.2, 3, "synthetic", True, 1.0,
           None, False, False, utc(2024, 1, 3))  # fmt: skip
    line = history.page_csv([row]).splitlines()[1]
    assert line.split(",")[9:14] == ["true", "1.0", "", "false", "false"]
    assert "True" not in line and "False" not in line


@pytest.mark.parametrize(
    ("start", "end", "slug"),
    [
        ("2024-02-01", "2024-01-01", "invalid-range"),
        ("2024-13-45", None, "invalid-date"),
        ("yesterday", None, "invalid-date"),
        ("1900-01-01", "1900-02-01", "invalid-date"),
        ("2024-01-01", "9999-12-31", "invalid-date"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(start: str, end: str | None, slug: str) -> None:
    with pytest.raises(QueryError) as raised:
        history.resolve_range(Timeframe.D1, start, end, NOW)
    assert raised.value.slug == slug


def test_cursor_round_trip_and_tamper_detection() -> None:
    query = _query()
    position = utc(2024, 1, 15, 5)
    cursor = history.encode_cursor(query, position)
    assert history.decode_cursor(cursor, query) == position
    with pytest.raises(InvalidCursorError, match="different query"):
        history.decode_cursor(cursor, _query(descending=True))
    for garbage in ("", "!!!", "eyJ2IjoxfQ", cursor[:-3] + "AAA", "a" * 199):
        with pytest.raises(InvalidCursorError):
            history.decode_cursor(garbage, query)


def test_a_timestamp_end_is_inclusive_and_a_date_end_covers_its_day_for_every_caller() -> None:
    start, end = history.resolve_window("2024-03-04", "2024-03-08T15:30:00Z")
    assert start == utc(2024, 3, 4)
    assert end == utc(2024, 3, 8, 15, 30) + timedelta(microseconds=1)
    assert history.resolve_window(None, "2024-03-08") == (None, utc(2024, 3, 9))
    assert history.resolve_window(None, None) == (None, None)


@pytest.mark.parametrize("end", ["9999-12-31", "9999-12-31T23:59:59+00:00", "0001-01-01"])
def test_an_end_outside_the_served_years_is_refused_not_an_overflow(end: str) -> None:
    with pytest.raises(InvalidDateError):
        history.resolve_window("2024-01-01", end)
