from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from market_data.calendar import NEW_YORK
from market_data.models import RawBar
from market_data.providers.synthetic import SyntheticProvider
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.validation import (
    VOLUME_WINDOW,
    ValidatedBar,
    assess,
    hard_problems,
    is_flagged,
    prepare,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ny_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)


def daily(day: date, close: float = 100.0, volume: float = 1000.0, **changes: float) -> RawBar:
    values = {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close}
    values.update(changes)
    return RawBar(ny_midnight(day), volume=volume, vwap=None, trades=10, **values)


def verdicts_by_day(results: list[ValidatedBar]) -> dict[date, ValidatedBar]:
    return {r.bar.time.astimezone(NEW_YORK).date(): r for r in results}


def test_sorting_and_deduplication_keep_the_last_copy_the_vendor_sent() -> None:
    first = daily(date(2024, 3, 4))
    second = daily(date(2024, 3, 5))
    revised = daily(date(2024, 3, 4), close=101)

    prepared = prepare([second, first, revised])

    assert prepared.bars == [revised, second]
    assert (prepared.duplicates, prepared.out_of_order) == (1, 1)


@pytest.mark.parametrize(
    ("symbol", "asset_class", "timeframe", "days"),
    [
        ("AAPL", AssetClass.STOCK, Timeframe.D1, 800),
        ("AAPL", AssetClass.STOCK, Timeframe.M5, 30),
        ("SPY", AssetClass.ETF, Timeframe.H1, 90),
        ("VIX", AssetClass.INDEX, Timeframe.D1, 800),
        ("BTC-USD", AssetClass.CRYPTO, Timeframe.M15, 30),
        ("ETH-USD", AssetClass.CRYPTO, Timeframe.W1, 800),
        ("MSFT", AssetClass.STOCK, Timeframe.W1, 800),
    ],
)
def test_clean_synthetic_history_passes_with_full_quality(
    symbol: str, asset_class: AssetClass, timeframe: Timeframe, days: int
) -> None:
    end = utc(2024, 12, 31)
    bars = (
        SyntheticProvider()
        .fetch_bars(symbol, asset_class, timeframe, end - timedelta(days=days), end)
        .bars
    )
    results = assess(bars, asset_class, timeframe)

    assert len(results) == len(bars) > 0
    complaints = [(r.bar.time, r.assessment.notes) for r in results if is_flagged(r.assessment)]
    assert complaints == []


def test_impossible_bars_are_invalid_with_a_reason() -> None:
    day = date(2024, 3, 4)
    assert hard_problems(daily(day, low=0)) == ["non-positive price"]
    assert hard_problems(daily(day, high=98, low=99)) == ["high below low"]
    assert hard_problems(daily(day, high=100.5, close=101)) == ["high below open/close"]
    assert hard_problems(daily(day, volume=-1)) == ["negative or non-finite volume"]
    assert hard_problems(daily(day, open=float("nan"))) == ["non-finite price"]

    [result] = assess([daily(day, high=98, low=99)], AssetClass.STOCK, Timeframe.D1)
    assert not result.assessment.validated and result.assessment.quality_score == 0


def test_weekends_and_holidays_are_not_gaps_but_a_missing_session_is() -> None:
    # Independence Day 2024 is a Thursday; Wednesday 10 July is left out on purpose.
    days = [date(2024, 7, d) for d in (1, 2, 3, 5, 8, 9, 11, 12)]
    results = verdicts_by_day(assess([daily(d) for d in days], AssetClass.STOCK, Timeframe.D1))

    gaps = {d: r.assessment.notes for d, r in results.items() if r.assessment.gap_detected}
    assert gaps == {date(2024, 7, 11): ("1 missing session before this bar",)}
    assert all(r.assessment.validated for r in results.values())


def test_crypto_trades_every_day_so_a_missing_weekend_day_is_a_gap() -> None:
    days = [date(2024, 7, d) for d in (5, 6, 8)]  # Sunday the 7th is missing
    bars = [RawBar(utc(d.year, d.month, d.day), 100, 101, 99, 100, 10.0) for d in days]

    results = assess(bars, AssetClass.CRYPTO, Timeframe.D1)

    assert [r.assessment.gap_detected for r in results] == [False, False, True]


def test_intraday_stock_bars_only_gap_when_a_whole_session_has_no_bar() -> None:
    def session_bars(day: date, count: int) -> list[RawBar]:
        opens = datetime.combine(day, time(9, 30), NEW_YORK).astimezone(UTC)
        return [
            RawBar(opens + timedelta(minutes=5 * i), 100, 100.1, 99.9, 100, 500.0)
            for i in range(count)
        ]

    # Thin trading on Monday (bars missing inside the session), nothing at all on Tuesday.
    bars = session_bars(date(2024, 3, 4), 10)[::3] + session_bars(date(2024, 3, 6), 5)
    results = assess(bars, AssetClass.STOCK, Timeframe.M5)

    flagged = [r.bar.time for r in results if r.assessment.gap_detected]
    assert flagged == [bars[4].time]  # the first bar on Wednesday


def test_an_extreme_move_is_noted_and_scored_down_but_the_bar_stays_valid() -> None:
    days = [date(2024, 3, d) for d in (4, 5, 6)]
    bars = [daily(days[0]), daily(days[1]), daily(days[2], close=140, high=141.4, low=99)]

    last = assess(bars, AssetClass.STOCK, Timeframe.D1)[-1].assessment

    assert last.validated and last.quality_score < 0.85
    assert any("close moved +40.0%" in note for note in last.notes)


def test_the_same_move_is_ordinary_for_a_volatile_index() -> None:
    days = [date(2024, 3, d) for d in (4, 5)]
    bars = [daily(days[0], 15), daily(days[1], 20, low=14.8, open=15)]  # VIX +33 %

    assert not is_flagged(assess(bars, AssetClass.INDEX, Timeframe.D1)[-1].assessment)


def test_a_volume_spike_against_the_rolling_median_is_an_anomaly() -> None:
    days = [date(2024, 3, 4) + timedelta(days=i) for i in range(14)]
    sessions = [d for d in days if d.weekday() < 5]
    bars = [daily(d, volume=1000 + i) for i, d in enumerate(sessions)]
    bars[-1] = daily(sessions[-1], volume=50_000)

    results = assess(bars, AssetClass.STOCK, Timeframe.D1)

    assert [r.assessment.volume_anomaly for r in results] == [False] * (len(bars) - 1) + [True]
    assert results[-1].assessment.validated


def test_index_bars_carry_no_volume_and_that_is_not_an_anomaly() -> None:
    days = [date(2024, 3, 4) + timedelta(days=i) for i in range(10)]
    bars = [daily(d, volume=0) for d in days if d.weekday() < 5]

    assert not any(is_flagged(r.assessment) for r in assess(bars, AssetClass.INDEX, Timeframe.D1))


def test_a_stock_bar_on_a_holiday_is_noted() -> None:
    bars = [daily(date(2024, 7, 3)), daily(date(2024, 7, 4)), daily(date(2024, 7, 5))]
    notes = [r.assessment.notes for r in assess(bars, AssetClass.STOCK, Timeframe.D1)]

    assert notes == [(), ("bar outside trading sessions",), ()]


def test_a_missing_week_is_a_gap_for_weekly_bars() -> None:
    mondays = [date(2024, 3, 4), date(2024, 3, 11), date(2024, 3, 25)]
    bars = [daily(d) for d in mondays]

    results = assess(bars, AssetClass.ETF, Timeframe.W1)

    assert results[-1].assessment.notes == ("1 missing week before this bar",)


def test_an_invalid_bar_does_not_look_like_a_missing_session() -> None:
    days = [date(2024, 3, d) for d in (4, 5, 6, 7)]
    bars = [daily(days[0]), daily(days[1], high=50, low=60), daily(days[2]), daily(days[3])]

    results = assess(bars, AssetClass.STOCK, Timeframe.D1)

    assert [r.assessment.validated for r in results] == [True, False, True, True]
    assert not any(r.assessment.gap_detected for r in results)


def test_stored_context_gives_an_overlap_the_verdict_of_a_full_pass() -> None:
    """What makes re-runs byte-identical: a bar's verdict depends only on the bars before it."""
    start = date(2024, 1, 2)
    days = [start + timedelta(days=i) for i in range(120)]
    sessions = [d for d in days if d.weekday() < 5 and d != date(2024, 2, 14)]
    bars = [daily(d, 100 + i % 7, volume=1000 + (i * 37) % 300) for i, d in enumerate(sessions)]
    bars[30] = daily(sessions[30], volume=90_000)  # a spike
    bars[50] = daily(sessions[50], high=1, low=2)  # an impossible bar
    bars[51] = daily(sessions[51], 150, high=152, low=149)  # an extreme move
    full = assess(bars, AssetClass.STOCK, Timeframe.D1)

    for split in (5, 31, 51, 52, 60, len(bars) - 2):
        before = bars[:split]
        valid = [b for b in before if not hard_problems(b)][-VOLUME_WINDOW:]
        context = sorted({*valid, before[-1]}, key=lambda b: b.time)
        tail = assess(bars[split:], AssetClass.STOCK, Timeframe.D1, context=context)
        assert tail == full[split:], f"verdicts differ when the job starts at bar {split}"
