"""Validation as a list of checks: extended hours, the intraday volume shape, splits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest

from market_data.calendar import NEW_YORK, nyse, volume_curve
from market_data.corporate_actions import Split
from market_data.models import RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.validation import (
    DEFAULT_CHECKS,
    VOLUME_WINDOW,
    Flag,
    Observation,
    SeriesState,
    assess,
    hard_problems,
    is_flagged,
)

MIN_QUALITY = 0.85  # the read API's default filter


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


def bar(at: datetime, price: float = 100.0, volume: float = 1000.0, **changes: float) -> RawBar:
    values = {"open": price, "high": price * 1.002, "low": price * 0.998, "close": price}
    values.update(changes)
    return RawBar(at, volume=volume, vwap=None, trades=10, **values)


def shaped_session(day: date, daily_volume: float = 1e6, price: float = 100.0) -> list[RawBar]:
    """5-minute bars over a session's extended hours with the volume of a typical day."""
    curve = volume_curve(nyse().regular_minutes(day))
    opens = ny(day, 4)
    return [
        bar(opens + timedelta(minutes=m), price, round(daily_volume * (curve[m + 5] - curve[m])))
        for m in range(0, len(curve) - 1, 5)
    ]


# --- the checks are objects -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundClose:
    """A check written outside the module: closes on a whole dollar look made up."""

    penalty: float = 0.02
    flag: Flag | None = None

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        return "close on a whole dollar" if seen.bar.close == int(seen.bar.close) else None


def test_a_check_added_to_the_list_runs_with_its_own_penalty() -> None:
    days = [date(2024, 3, 4), date(2024, 3, 5)]
    bars = [bar(ny(days[0], 0), 100.5), bar(ny(days[1], 0), 101.0)]

    results = assess(bars, AssetClass.STOCK, Timeframe.D1, checks=(*DEFAULT_CHECKS, RoundClose()))

    assert [r.assessment.notes for r in results] == [(), ("close on a whole dollar",)]
    assert results[1].assessment.quality_score == 0.98
    assert results[1].assessment.validated and not results[1].assessment.gap_detected


def test_each_default_check_carries_the_penalty_and_flag_of_its_finding() -> None:
    by_name = {type(c).__name__: (c.penalty, c.flag) for c in DEFAULT_CHECKS}
    assert by_name == {
        "OffSession": (0.1, None),
        "MissingSessions": (0.05, "gap"),
        "ExtremeMove": (0.3, None),
        "OpenGap": (0.1, None),
        "VolumeSpike": (0.1, "volume"),
        "VwapOutsideRange": (0.1, None),
    }


# --- extended hours -----------------------------------------------------------------------


@pytest.mark.parametrize("asset_class", [AssetClass.STOCK, AssetClass.ETF])
def test_pre_and_post_market_bars_are_in_session_but_the_night_is_not(
    asset_class: AssetClass,
) -> None:
    day = date(2024, 3, 5)
    times = [ny(day, 3, 55), ny(day, 4), ny(day, 9, 25), ny(day, 16, 30), ny(day, 19, 55)]
    times.append(ny(day, 20))
    results = assess([bar(t) for t in times], asset_class, Timeframe.M5)

    outside = [r.bar.time for r in results if "bar outside trading sessions" in r.assessment.notes]
    assert outside == [ny(day, 3, 55), ny(day, 20)]


def test_after_an_early_close_the_post_market_ends_at_five() -> None:
    day = date(2024, 11, 29)  # the day after Thanksgiving closes at 13:00
    times = [ny(day, 12, 55), ny(day, 16, 55), ny(day, 17)]
    results = assess([bar(t) for t in times], AssetClass.STOCK, Timeframe.M5)

    assert [is_flagged(r.assessment) for r in results] == [False, False, True]


def test_an_hour_bar_that_straddles_the_pre_market_open_is_in_session() -> None:
    day = date(2024, 3, 5)
    results = assess([bar(ny(day, 3, 30))], AssetClass.STOCK, Timeframe.H1)  # 03:30-04:30
    assert not is_flagged(results[0].assessment)


def test_crypto_trades_at_any_hour_and_index_bars_are_judged_by_the_day() -> None:
    night = datetime(2024, 3, 5, 3, 0, tzinfo=UTC)
    assert not is_flagged(assess([bar(night)], AssetClass.CRYPTO, Timeframe.M5)[0].assessment)
    vix = assess([bar(ny(date(2024, 3, 5), 3))], AssetClass.INDEX, Timeframe.M5)
    assert not is_flagged(vix[0].assessment)


# --- the shape of a trading day --------------------------------------------------------


def test_volume_that_follows_the_day_is_no_spike_at_the_open() -> None:
    days = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    bars = [b for d in days for b in shaped_session(d)]

    results = assess(bars, AssetClass.STOCK, Timeframe.M5)

    opening = next(r for r in results if r.bar.time == ny(days[1], 9, 30))
    pre_market = next(r for r in results if r.bar.time == ny(days[1], 9, 25))
    assert opening.bar.volume > 20 * pre_market.bar.volume  # twice what the raw check allows
    assert not any(is_flagged(r.assessment) for r in results)


def test_volume_far_above_the_day_shape_is_an_anomaly() -> None:
    day = date(2024, 3, 5)
    bars = shaped_session(day)
    spike = next(i for i, b in enumerate(bars) if b.time == ny(day, 6))
    bars[spike] = bar(bars[spike].time, volume=bars[spike].volume * 30)

    results = assess(bars, AssetClass.ETF, Timeframe.M5)

    flagged = [r for r in results if r.assessment.volume_anomaly]
    assert [r.bar.time for r in flagged] == [ny(day, 6)]
    assert flagged[0].assessment.notes[0].startswith(f"volume {bars[spike].volume:.6g} against")


# --- splits ---------------------------------------------------------------------------------

SPLIT = Split(date(2020, 8, 31), 1, 4)  # AAPL's 4-for-1, a Monday


def daily_around_a_split(split: Split = SPLIT) -> list[RawBar]:
    """Raw daily bars: 500 before the execution date, 125 from it (volume x ratio)."""
    around = timedelta(days=40)
    sessions = list(nyse().sessions(split.execution_date - around, split.execution_date + around))
    bars = []
    for i, day in enumerate(sessions):
        before = day < split.execution_date
        price = (500.0 if before else 500.0 / split.ratio) * (1 + 0.001 * (i % 5))
        volume = (1e6 if before else 1e6 * split.ratio) * (1 + 0.01 * (i % 7))
        bars.append(bar(ny(day, 0), price, volume))
    return bars


def test_a_split_looks_like_a_crash_to_a_validator_that_does_not_know_it() -> None:
    results = assess(daily_around_a_split(), AssetClass.STOCK, Timeframe.D1)
    on_the_day = next(r for r in results if r.bar.time == ny(SPLIT.execution_date, 0))
    assert on_the_day.assessment.quality_score < MIN_QUALITY
    assert any("close moved -75" in n for n in on_the_day.assessment.notes)


def test_bars_around_a_split_keep_their_quality_when_the_split_is_known() -> None:
    results = assess(daily_around_a_split(), AssetClass.STOCK, Timeframe.D1, splits=[SPLIT])

    assert all(r.assessment.validated for r in results)
    assert [r for r in results if is_flagged(r.assessment)] == []
    assert min(r.assessment.quality_score for r in results) >= MIN_QUALITY


def test_intraday_bars_cross_a_split_by_their_new_york_session_date() -> None:
    friday, monday = date(2020, 8, 28), SPLIT.execution_date
    bars = shaped_session(friday, 1e6, 500.0) + shaped_session(monday, 4e6, 125.0)

    blind = assess(bars, AssetClass.STOCK, Timeframe.M5)
    aware = assess(bars, AssetClass.STOCK, Timeframe.M5, splits=[SPLIT])

    first_after = next(r for r in blind if r.bar.time == ny(monday, 4))
    assert first_after.assessment.quality_score < MIN_QUALITY
    assert not any(is_flagged(r.assessment) for r in aware)


def test_a_weekly_bar_with_a_split_inside_its_week() -> None:
    split = Split(date(2022, 8, 25), 1, 3)  # TSLA's 3-for-1, a Thursday
    mondays = [date(2022, 8, 15), date(2022, 8, 22), date(2022, 8, 29)]
    prices = [(900.0, 900.0), (900.0, 300.0), (300.0, 300.0)]  # open, close of each week
    bars = [
        RawBar(ny(m, 0), o, max(o, c) * 1.01, min(o, c) * 0.99, c, v, None, 10)
        for m, (o, c), v in zip(mondays, prices, (1e6, 1.8e6, 3e6), strict=True)
    ]

    results = assess(bars, AssetClass.STOCK, Timeframe.W1, splits=[split])

    assert not any(is_flagged(r.assessment) for r in results)


def test_a_split_in_the_context_gives_an_overlap_the_verdict_of_a_full_pass() -> None:
    bars = daily_around_a_split()
    full = assess(bars, AssetClass.STOCK, Timeframe.D1, splits=[SPLIT])
    split_at = next(i for i, b in enumerate(bars) if b.time == ny(SPLIT.execution_date, 0))

    for start in range(split_at - 3, split_at + VOLUME_WINDOW + 2):
        before = bars[:start]
        valid = [b for b in before if not hard_problems(b)][-VOLUME_WINDOW:]
        context = sorted({*valid, before[-1]}, key=lambda b: b.time)
        tail = assess(bars[start:], AssetClass.STOCK, Timeframe.D1, context=context, splits=[SPLIT])
        assert tail == full[start:], f"verdicts differ when the job starts at bar {start}"
