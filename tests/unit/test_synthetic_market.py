"""The synthetic market: one path per symbol, every timeframe an aggregate of the finest."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest

from market_data.calendar import NEW_YORK
from market_data.models import RawBar
from market_data.providers import synthetic
from market_data.providers.synthetic import SyntheticProvider
from market_data.symbols import DEFAULT_UNIVERSE, AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import synthetic_bars, utc

PROVIDER = SyntheticProvider()
STOCK, ETF, CRYPTO, INDEX = AssetClass.STOCK, AssetClass.ETF, AssetClass.CRYPTO, AssetClass.INDEX


def ny(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


def aggregate(bars: Sequence[RawBar]) -> tuple[float, ...]:
    """open, high, low, close, volume, vwap (volume-weighted), trades of consecutive bars."""
    volume = sum(b.volume for b in bars)
    vwap = sum((b.vwap or 0) * b.volume for b in bars) / volume if volume else math.nan
    return (
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        volume,
        vwap,
        sum(b.trades or 0 for b in bars),
    )


def assert_aggregates_to(parts: Sequence[RawBar], whole: RawBar) -> None:
    o, h, low, c, volume, vwap, trades = aggregate(parts)
    assert (o, h, low, c) == (whole.open, whole.high, whole.low, whole.close)
    # Stock volumes are whole shares (exact sums); coins are fractional (float sums).
    assert volume == pytest.approx(whole.volume, rel=1e-12)
    assert trades == (whole.trades or 0)
    if whole.vwap is None:
        assert all(b.vwap is None for b in parts)
    else:  # each VWAP is rounded to two decimals beyond the price's
        assert vwap == pytest.approx(whole.vwap, rel=1e-6)


def group(bars: Sequence[RawBar], key: Callable[[RawBar], object]) -> dict[object, list[RawBar]]:
    groups: dict[object, list[RawBar]] = defaultdict(list)
    for bar in bars:
        groups[key(bar)].append(bar)
    return groups


# --- one path, every timeframe -----------------------------------------------------------

DAYS = [
    ("AAPL", STOCK, date(2024, 3, 4)),  # an ordinary Monday
    ("AAPL", STOCK, date(2024, 11, 29)),  # closes at 13:00, post-market to 17:00
    ("SPY", ETF, date(2024, 6, 21)),  # a dividend ex-date
    ("NVDA", STOCK, date(2024, 6, 10)),  # a 10-for-1 split executes
    ("VIX", INDEX, date(2024, 8, 5)),
    ("BTC-USD", CRYPTO, date(2024, 3, 4)),
    ("SHIB-USD", CRYPTO, date(2025, 7, 6)),  # a Sunday
]


@pytest.mark.parametrize(("symbol", "asset_class", "day"), DAYS)
@pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.M5])
def test_a_day_is_its_intraday_bars_aggregated_extended_hours_included(
    symbol: str, asset_class: AssetClass, day: date, timeframe: Timeframe
) -> None:
    start = datetime.combine(day, time(0), UTC) if asset_class is CRYPTO else ny(day)
    [daily] = synthetic_bars(symbol, asset_class, Timeframe.D1, start, start + timedelta(1))
    intraday = synthetic_bars(
        symbol, asset_class, timeframe, start, start + timedelta(days=1, hours=2)
    )
    intraday = [b for b in intraday if b.time < start + timedelta(days=1)]

    assert daily.time == start
    assert_aggregates_to(intraday, daily)


def test_stock_days_run_from_four_to_eight_in_new_york_and_crypto_days_are_utc_days() -> None:
    def span(symbol: str, asset_class: AssetClass, day: date) -> tuple[datetime, datetime, int]:
        end = ny(day + timedelta(1))
        bars = synthetic_bars(symbol, asset_class, Timeframe.M1, ny(day), end)
        return bars[0].time, bars[-1].time, len(bars)

    monday, half_day = date(2024, 3, 4), date(2024, 11, 29)
    assert span("AAPL", STOCK, monday) == (ny(monday, 4), ny(monday, 19, 59), 960)
    assert span("AAPL", STOCK, half_day) == (ny(half_day, 4), ny(half_day, 16, 59), 780)
    assert span("VIX", INDEX, monday) == (ny(monday, 9, 30), ny(monday, 15, 59), 390)
    crypto = synthetic_bars("ETH-USD", CRYPTO, Timeframe.M1, utc(2024, 3, 4), utc(2024, 3, 5))
    assert (crypto[0].time, crypto[-1].time, len(crypto)) == (
        utc(2024, 3, 4),
        utc(2024, 3, 4, 23, 59),
        1440,
    )


@pytest.mark.parametrize(
    ("symbol", "asset_class"), [("MSFT", STOCK), ("QQQ", ETF), ("VIX", INDEX), ("SOL-USD", CRYPTO)]
)
def test_hours_and_coarser_intraday_bars_are_their_five_minute_bars_aggregated(
    symbol: str, asset_class: AssetClass
) -> None:
    start, end = utc(2024, 5, 6), utc(2024, 5, 11)
    five = synthetic_bars(symbol, asset_class, Timeframe.M5, start, end)
    for timeframe in (Timeframe.M15, Timeframe.M30, Timeframe.H1, Timeframe.H4):
        coarse = synthetic_bars(symbol, asset_class, timeframe, start, end)
        assert coarse
        # A coarse bar holds the 5m bars from its start to the next bar or the end of its day.
        starts = [b.time for b in coarse]
        for i, bar in enumerate(coarse):
            limit = bar.time + timeframe.duration
            if i + 1 < len(starts):
                limit = min(limit, starts[i + 1])
            parts = [b for b in five if bar.time <= b.time < limit]
            assert_aggregates_to(parts, bar)


def test_four_hour_bars_start_at_the_window_start_and_every_four_hours() -> None:
    day = date(2024, 5, 7)

    def starts(symbol: str, asset_class: AssetClass, zone: object) -> list[str]:
        bars = synthetic_bars(symbol, asset_class, Timeframe.H4, ny(day), ny(day, 23))
        return [b.time.astimezone(zone).strftime("%H:%M") for b in bars]  # type: ignore[arg-type]

    assert starts("AAPL", STOCK, NEW_YORK) == ["04:00", "08:00", "12:00", "16:00"]
    assert starts("VIX", INDEX, NEW_YORK) == ["09:30", "13:30"]
    crypto = synthetic_bars("BTC-USD", CRYPTO, Timeframe.H4, utc(2024, 5, 7), utc(2024, 5, 8))
    assert [b.time.hour for b in crypto] == [0, 4, 8, 12, 16, 20]


@pytest.mark.parametrize(
    ("symbol", "asset_class"), [("KO", STOCK), ("TLT", ETF), ("VIX", INDEX), ("ETH-USD", CRYPTO)]
)
def test_a_week_is_its_days_aggregated(symbol: str, asset_class: AssetClass) -> None:
    start, end = utc(2024, 6, 24), utc(2024, 8, 5)  # the week of 4 July has a holiday
    weeks = synthetic_bars(symbol, asset_class, Timeframe.W1, start, end)
    days = synthetic_bars(
        symbol, asset_class, Timeframe.D1, start - timedelta(1), end + timedelta(7)
    )
    zone = UTC if asset_class is CRYPTO else NEW_YORK

    def monday_of(bar: RawBar) -> date:
        day = bar.time.astimezone(zone).date()
        return day - timedelta(days=day.weekday())

    by_week = group(days, monday_of)
    assert len(weeks) == 6
    for week in weeks:
        monday = monday_of(week)
        assert week.time == datetime.combine(monday, time(0), zone)  # stamped on its Monday
        assert_aggregates_to(by_week[monday], week)


# --- like the market ---------------------------------------------------------------------

SPLITS = {  # the real splits, written down independently of the generator's tables
    "AAPL": [(date(2020, 8, 31), 4)],
    "NVDA": [(date(2021, 7, 20), 4), (date(2024, 6, 10), 10)],
    "TSLA": [(date(2020, 8, 31), 5), (date(2022, 8, 25), 3)],
}


def adjusted(symbol: str, bar: RawBar) -> float:
    """The close in today's shares."""
    day = bar.time.astimezone(NEW_YORK).date()
    factor = math.prod(ratio for executed, ratio in SPLITS.get(symbol, []) if executed > day)
    return bar.close / factor


def closes_by_year(symbol: str, asset_class: AssetClass) -> dict[int, list[float]]:
    bars = synthetic_bars(symbol, asset_class, Timeframe.D1, utc(2020, 1, 1), utc(2026, 12, 2))
    zone = UTC if asset_class is CRYPTO else NEW_YORK
    years: dict[int, list[float]] = defaultdict(list)
    for bar in bars:
        years[bar.time.astimezone(zone).year].append(adjusted(symbol, bar))
    return years


@pytest.mark.parametrize(
    ("symbol", "asset_class", "first", "last"),
    [
        ("AAPL", STOCK, (45, 160), (200, 400)),
        ("NVDA", STOCK, (3, 20), (110, 300)),
        ("SPY", ETF, (180, 420), (450, 800)),
        ("BTC-USD", CRYPTO, (3000, 40000), (55000, 160000)),
        ("DOGE-USD", CRYPTO, (0.001, 0.01), (0.05, 0.5)),
    ],
)
def test_levels_are_plausible_in_2020_and_2026(
    symbol: str,
    asset_class: AssetClass,
    first: tuple[float, float],
    last: tuple[float, float],
) -> None:
    years = closes_by_year(symbol, asset_class)
    assert first[0] < min(years[2020]) and max(years[2020]) < first[1]
    assert last[0] < min(years[2026]) and max(years[2026]) < last[1]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "low", "high"),
    [("AAPL", STOCK, 45, 400), ("SPY", ETF, 180, 800), ("BTC-USD", CRYPTO, 3000, 160_000)],
)
def test_levels_stay_plausible_every_year(
    symbol: str, asset_class: AssetClass, low: float, high: float
) -> None:
    years = closes_by_year(symbol, asset_class)
    assert sorted(years) == list(range(2020, 2027))
    for year, closes in years.items():
        assert low < min(closes) and max(closes) < high, year
        assert max(closes) / min(closes) < 10, year  # BTC went from 4,100 to 29,000 in 2020


def test_known_levels_are_hit_exactly_in_raw_prices() -> None:
    def close_on(symbol: str, asset_class: AssetClass, day: date) -> float:
        start = utc(day.year, day.month, day.day)
        [bar] = synthetic_bars(symbol, asset_class, Timeframe.D1, start, start + timedelta(1))
        return bar.close

    assert close_on("AAPL", STOCK, date(2020, 1, 2)) == 300.0  # $75 in today's shares, x4
    assert close_on("AAPL", STOCK, date(2021, 1, 4)) == 130.0
    assert close_on("TSLA", STOCK, date(2020, 1, 2)) == 420.0  # x5 x3
    assert close_on("NVDA", STOCK, date(2023, 1, 3)) == 145.0  # x10
    assert close_on("SPY", ETF, date(2020, 1, 2)) == 322.0
    assert close_on("BTC-USD", CRYPTO, date(2020, 1, 2)) == 7200.0
    assert close_on("BTC-USD", CRYPTO, date(2026, 12, 1)) == 90000.0


def test_vix_mean_reverts_between_about_10_and_80_and_has_no_volume() -> None:
    bars = synthetic_bars("VIX", INDEX, Timeframe.D1, utc(2015, 1, 1), utc(2026, 12, 2))
    closes = [b.close for b in bars]
    assert min(b.low for b in bars) >= 8.5 and max(b.high for b in bars) <= 90
    assert 9 <= min(closes) < 13 and 60 < max(closes) <= 85  # calm years and March 2020
    assert 14 < statistics.median(closes) < 22
    above_30 = sum(c > 30 for c in closes) / len(closes)
    assert above_30 < 0.1  # spikes do not last
    intraday = synthetic_bars("VIX", INDEX, Timeframe.M5, utc(2024, 8, 5), utc(2024, 8, 7))
    for bar in bars + intraday:
        assert (bar.volume, bar.vwap, bar.trades) == (0.0, None, None)


@pytest.mark.parametrize(
    ("symbol", "asset_class"), [(s, a) for a in (STOCK, ETF) for s in DEFAULT_UNIVERSE[a][::4]]
)
def test_stock_and_etf_volumes_are_whole_shares(symbol: str, asset_class: AssetClass) -> None:
    for timeframe, start in ((Timeframe.D1, utc(2020, 1, 1)), (Timeframe.M5, utc(2026, 11, 20))):
        bars = synthetic_bars(symbol, asset_class, timeframe, start, utc(2026, 12, 1))
        assert bars and all(b.volume >= 1 and b.volume.is_integer() for b in bars)
        assert all(b.trades is not None and 1 <= b.trades <= b.volume for b in bars)


def test_crypto_volumes_are_fractional() -> None:
    bars = synthetic_bars("BTC-USD", CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 1, 8))
    assert sum(not b.volume.is_integer() for b in bars) > len(bars) / 2


def test_intraday_volume_is_shaped_like_a_trading_day() -> None:
    bars = synthetic_bars("AAPL", STOCK, Timeframe.M30, utc(2024, 4, 1), utc(2024, 5, 1))
    by_slot: dict[str, list[float]] = defaultdict(list)
    for bar in bars:
        by_slot[bar.time.astimezone(NEW_YORK).strftime("%H:%M")].append(bar.volume)
    mean = {slot: statistics.mean(v) for slot, v in by_slot.items()}
    total = sum(mean.values())
    pre = sum(v for s, v in mean.items() if s < "09:30") / total
    post = sum(v for s, v in mean.items() if s >= "16:00") / total
    assert 0.01 < pre < 0.06 and 0.005 < post < 0.05  # thin extended hours
    assert mean["09:30"] > 2 * mean["12:30"] and mean["15:30"] > 1.5 * mean["12:30"]
    assert mean["04:00"] < mean["09:00"] < mean["09:30"]


def test_every_universe_symbol_has_a_plausible_level_today() -> None:
    for asset_class, symbols in DEFAULT_UNIVERSE.items():
        for symbol in symbols:
            [bar] = synthetic_bars(
                symbol, asset_class, Timeframe.D1, utc(2026, 11, 30, 12), utc(2026, 12, 1, 12)
            )
            lowest = 1e-6 if asset_class is CRYPTO else 5.0
            assert lowest < bar.close < 200_000, symbol


# --- deterministic ---------------------------------------------------------------------


def clear_caches() -> None:
    synthetic._series.cache_clear()
    synthetic._segment.cache_clear()
    synthetic._TREES = synthetic._Trees()


@pytest.mark.parametrize(
    ("symbol", "asset_class"),
    [("GOOGL", STOCK), ("XLE", ETF), ("VIX", INDEX), ("LINK-USD", CRYPTO)],
)
@pytest.mark.parametrize("timeframe", list(Timeframe))
def test_any_sub_range_is_the_slice_of_a_longer_one_in_any_order(
    symbol: str, asset_class: AssetClass, timeframe: Timeframe
) -> None:
    long_range = (utc(2024, 2, 26), utc(2024, 3, 12))
    if not timeframe.is_intraday:
        long_range = (utc(2023, 1, 1), utc(2024, 7, 1))
    clear_caches()
    whole = synthetic_bars(symbol, asset_class, timeframe, *long_range)
    assert whole == synthetic_bars(symbol, asset_class, timeframe, *long_range)
    span = long_range[1] - long_range[0]
    for first, last in ((0.13, 0.57), (0.5, 0.51), (0.77, 1.0)):
        clear_caches()
        if timeframe.is_intraday:  # a finer level built first must not change this one
            synthetic_bars(symbol, asset_class, Timeframe.M1, *long_range)
        start, end = long_range[0] + span * first, long_range[0] + span * last
        part = synthetic_bars(symbol, asset_class, timeframe, start, end)
        assert part == [b for b in whole if start <= b.time < end]
