from datetime import date, timedelta

import exchange_calendars as xcals

from market_data.calendar import nyse
from tests.helpers import utc


def test_calendar_file_matches_exchange_calendars_session_by_session() -> None:
    reference = xcals.get_calendar("XNYS", start="2015-01-01", end="2030-12-31")
    expected = {d.date() for d in reference.sessions}
    ours = set(nyse().sessions(date(2015, 1, 1), date(2030, 12, 31)))
    assert ours == expected
    for session in list(reference.sessions)[::97]:
        opens, closes = nyse().session_bounds(session.date())
        assert opens == reference.session_open(session).to_pydatetime()
        assert closes == reference.session_close(session).to_pydatetime()


def test_holidays_and_early_closes() -> None:
    calendar = nyse()
    assert not calendar.is_session(date(2024, 12, 25))
    assert not calendar.is_session(date(2024, 7, 6))  # Saturday
    assert calendar.session_bounds(date(2024, 11, 29))[1] == utc(2024, 11, 29, 18, 0)  # 13:00 ET


def test_weekend_counts_as_closed_time() -> None:
    friday_close = utc(2024, 6, 7, 20, 0)
    monday_morning = utc(2024, 6, 10, 14, 0)
    closed = nyse().closed_time_between(friday_close, monday_morning)
    assert closed == timedelta(days=2)
