import itertools
from datetime import date

import pytest

from market_data.calendar import nyse, volume_curve
from tests.helpers import utc


def test_extended_hours_run_from_four_to_four_hours_after_the_close() -> None:
    # 2024-03-04 is an ordinary Monday in EST (UTC-5); 2024-07-03 closes at 13:00 EDT (UTC-4).
    assert nyse().extended_bounds(date(2024, 3, 4)) == (utc(2024, 3, 4, 9), utc(2024, 3, 5, 1))
    assert nyse().extended_bounds(date(2024, 7, 3)) == (utc(2024, 7, 3, 8), utc(2024, 7, 3, 21))
    assert nyse().regular_minutes(date(2024, 3, 4)) == 390
    assert nyse().regular_minutes(date(2024, 7, 3)) == 210


@pytest.mark.parametrize("regular_minutes", [390, 210])
def test_the_volume_curve_is_thin_outside_the_regular_session_and_u_shaped_inside(
    regular_minutes: int,
) -> None:
    curve = volume_curve(regular_minutes)
    opens, closes = 330, 330 + regular_minutes
    assert len(curve) == closes + 240 + 1
    assert curve[0] == 0 and curve[-1] == 1
    assert all(a < b for a, b in itertools.pairwise(curve))
    assert 0.01 < curve[opens] < 0.05  # pre-market
    assert 0.01 < 1 - curve[closes] < 0.04  # post-market

    def per_minute(first: int, last: int) -> float:
        return (curve[last] - curve[first]) / (last - first)

    middle = (opens + closes) // 2
    assert per_minute(opens, opens + 30) > 2 * per_minute(middle - 15, middle + 15)
    assert per_minute(closes - 30, closes) > 1.5 * per_minute(middle - 15, middle + 15)
    assert per_minute(middle - 15, middle + 15) > 20 * per_minute(0, 60)
