"""Corporate actions from the synthetic provider: raw prices with the real splits and dividends."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import date, timedelta

import pytest

from market_data.calendar import NEW_YORK, nyse
from market_data.corporate_actions import Split
from market_data.models import RawBar
from market_data.providers.synthetic import SyntheticProvider
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import synthetic_bars, utc

PROVIDER = SyntheticProvider()
TODAY = date(2026, 12, 1)
STOCK, ETF = AssetClass.STOCK, AssetClass.ETF

# Written down here, not read from the generator: (symbol, execution date, new shares per old).
REAL_SPLITS = [
    ("AAPL", date(2020, 8, 31), 4),
    ("TSLA", date(2020, 8, 31), 5),
    ("TSLA", date(2022, 8, 25), 3),
    ("NVDA", date(2021, 7, 20), 4),
    ("NVDA", date(2024, 6, 10), 10),
    ("GOOGL", date(2022, 7, 18), 20),
    ("AMZN", date(2022, 6, 6), 20),
]


def daily(symbol: str, asset_class: AssetClass = STOCK, since: int = 2015) -> list[RawBar]:
    return synthetic_bars(symbol, asset_class, Timeframe.D1, utc(since, 1, 1), utc(2026, 12, 2))


def session_of(bar: RawBar) -> date:
    return bar.time.astimezone(NEW_YORK).date()


def split_adjusted(symbol: str, bars: list[RawBar]) -> list[float]:
    """Closes in today's shares, adjusted by REAL_SPLITS."""
    splits = [(day, ratio) for s, day, ratio in REAL_SPLITS if s == symbol]
    return [b.close / math.prod(r for day, r in splits if day > session_of(b)) for b in bars]


def test_the_generator_reports_the_real_splits() -> None:
    for symbol in ("AAPL", "TSLA", "NVDA", "GOOGL", "AMZN"):
        expected = [Split(day, 1, ratio) for s, day, ratio in REAL_SPLITS if s == symbol]
        actions = PROVIDER.fetch_actions(symbol, STOCK, as_of=TODAY).actions
        assert list(actions.splits) == expected, symbol
    assert PROVIDER.fetch_actions("MSFT", STOCK, as_of=TODAY).actions.splits == ()
    # Only what had happened by then.
    assert PROVIDER.fetch_actions("NVDA", STOCK, as_of=date(2023, 1, 1)).actions.splits == (
        Split(date(2021, 7, 20), 1, 4),
    )


@pytest.mark.parametrize(("symbol", "executed", "ratio"), REAL_SPLITS)
def test_raw_prices_before_a_split_are_ratio_times_higher(
    symbol: str, executed: date, ratio: int
) -> None:
    bars = daily(symbol, since=executed.year - 1)
    i = next(i for i, b in enumerate(bars) if session_of(b) == executed)
    before, on = bars[i - 1], bars[i]
    # The previous close against the open, by how much more a share was worth before.
    assert before.close / on.open == pytest.approx(ratio, rel=0.03)
    assert before.close / on.close == pytest.approx(ratio, rel=0.2)
    # Volume in shares goes up with the number of shares.
    typical_before = statistics.median(b.volume for b in bars[i - 20 : i])
    typical_after = statistics.median(b.volume for b in bars[i : i + 20])
    assert typical_after / typical_before == pytest.approx(ratio, rel=0.5)


@pytest.mark.parametrize("symbol", ["AAPL", "NVDA", "TSLA"])
def test_adjusting_raw_bars_by_the_splits_leaves_a_continuous_path(symbol: str) -> None:
    bars = daily(symbol)
    raw = [math.log(b.close / a.close) for a, b in itertools.pairwise(bars)]
    closes = split_adjusted(symbol, bars)
    moves = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    typical = statistics.pstdev(moves)

    splits = {day for s, day, _ in REAL_SPLITS if s == symbol}
    for i, bar in enumerate(bars[1:]):
        if session_of(bar) in splits:
            assert raw[i] < -1  # a 4-for-1 or more: the raw close falls by 75 % or more
            assert abs(moves[i]) < 5 * typical  # adjusted: an ordinary day
    assert max(abs(m) for m in moves) < 8 * typical
    assert len(splits) == sum(r < -1 for r in raw)  # no other step in the raw path


def test_split_adjusted_aapl_is_near_75_at_the_start_of_2020() -> None:
    bars = daily("AAPL", since=2020)
    assert split_adjusted("AAPL", bars)[0] == pytest.approx(75, rel=0.05)
    assert bars[0].close == pytest.approx(300, rel=0.05)  # as it traded then


# --- dividends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "asset_class"),
    [("KO", STOCK), ("PG", STOCK), ("JPM", STOCK), ("XOM", STOCK), ("SPY", ETF), ("TLT", ETF)],
)
def test_the_price_drops_by_about_the_cash_amount_on_the_ex_date(
    symbol: str, asset_class: AssetClass
) -> None:
    bars = daily(symbol, asset_class)
    index = {session_of(b): i for i, b in enumerate(bars)}
    dividends = PROVIDER.fetch_actions(symbol, asset_class, as_of=TODAY).actions.dividends
    ex_days = {d.ex_dividend_date for d in dividends}
    drops = [
        (bars[index[d.ex_dividend_date] - 1].close - bars[index[d.ex_dividend_date]].open)
        / d.cash_amount
        for d in dividends
        if d.ex_dividend_date in index and index[d.ex_dividend_date] > 0
    ]
    other = [
        (a.close - b.open) / dividends[0].cash_amount
        for a, b in itertools.pairwise(bars)
        if session_of(b) not in ex_days
    ]
    assert len(drops) > 30
    assert statistics.mean(drops) == pytest.approx(1, abs=0.25)
    assert abs(statistics.mean(other)) < 0.15


def test_dividends_have_plausible_amounts_and_dates() -> None:
    ko = PROVIDER.fetch_actions("KO", STOCK, as_of=TODAY).actions.dividends
    in_2024 = [d for d in ko if d.ex_dividend_date.year == 2024]
    assert [d.cash_amount for d in in_2024] == [0.485] * 4
    assert all(d.frequency == 4 and d.dividend_type == "CD" for d in ko)
    calendar = nyse()
    for d in ko:
        assert d.declaration_date and d.record_date and d.pay_date
        assert d.declaration_date < d.ex_dividend_date <= d.record_date < d.pay_date
        assert calendar.is_session(d.ex_dividend_date)
        # T+2 settlement put the record date a session after the ex-date; T+1 (from
        # 28 May 2024) makes them the same day.
        if d.ex_dividend_date >= date(2024, 5, 28):
            assert d.record_date == d.ex_dividend_date
        else:
            assert d.record_date == next(
                calendar.sessions(d.ex_dividend_date + timedelta(days=1), d.pay_date)
            )
    assert max(d.declaration_date or d.ex_dividend_date for d in ko) <= TODAY


def test_aapl_dividends_follow_the_split_and_costco_pays_specials() -> None:
    aapl = PROVIDER.fetch_actions("AAPL", STOCK, as_of=TODAY).actions.dividends
    in_2020 = [d.cash_amount for d in aapl if d.ex_dividend_date.year == 2020]
    assert in_2020 == [0.77, 0.82, 0.82, 0.205]  # as paid: the last one after the 4-for-1
    specials = [
        (d.ex_dividend_date, d.cash_amount)
        for d in PROVIDER.fetch_actions("COST", STOCK, as_of=TODAY).actions.dividends
        if d.dividend_type == "SC"
    ]
    assert (date(2020, 12, 1), 10.0) in specials and (date(2023, 12, 27), 15.0) in specials


def test_suspended_and_late_dividends() -> None:
    def years(symbol: str) -> set[int]:
        actions = PROVIDER.fetch_actions(symbol, STOCK, as_of=TODAY).actions
        return {d.ex_dividend_date.year for d in actions.dividends}

    assert years("GOOGL") == {2024, 2025, 2026}  # initiated in 2024
    assert max(years("INTC")) == 2024  # suspended late in 2024
    assert max(years("BA")) == 2020  # suspended in March 2020
    assert {2021, 2022} & years("DIS") == set()  # suspended 2020-2023
    assert years("AMZN") == years("TSLA") == set()


def test_crypto_and_indices_have_no_actions() -> None:
    assert PROVIDER.fetch_actions("BTC-USD", AssetClass.CRYPTO, as_of=TODAY).actions.splits == ()
    assert PROVIDER.fetch_actions("BTC-USD", AssetClass.CRYPTO, as_of=TODAY).actions.dividends == ()
    assert PROVIDER.fetch_actions("VIX", AssetClass.INDEX, as_of=TODAY).actions.dividends == ()


def test_actions_are_the_same_whenever_they_are_asked_for() -> None:
    first = PROVIDER.fetch_actions("PEP", STOCK, as_of=TODAY).actions
    assert PROVIDER.fetch_actions("PEP", STOCK, as_of=TODAY).actions == first
    earlier = PROVIDER.fetch_actions("PEP", STOCK, as_of=date(2022, 1, 1)).actions
    assert earlier.dividends == tuple(
        d for d in first.dividends if (d.declaration_date or d.ex_dividend_date) <= date(2022, 1, 1)
    )
