from datetime import timedelta

import pytest

from market_data.calendar import NEW_YORK, nyse
from market_data.providers.synthetic import SyntheticProvider
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import utc

PROVIDER = SyntheticProvider()


@pytest.mark.parametrize("timeframe", list(Timeframe))
@pytest.mark.parametrize(
    ("symbol", "asset_class"), [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)]
)
def test_bars_respect_ohlc_invariants(
    symbol: str, asset_class: AssetClass, timeframe: Timeframe
) -> None:
    bars = PROVIDER.fetch_bars(
        symbol, asset_class, timeframe, utc(2024, 3, 1), utc(2024, 3, 15)
    ).bars
    assert bars
    for bar in bars:
        assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0
        assert utc(2024, 3, 1) <= bar.time < utc(2024, 3, 15)
    assert [b.time for b in bars] == sorted({b.time for b in bars})


def test_same_request_gives_the_same_bars_and_sub_ranges_agree() -> None:
    whole = PROVIDER.fetch_bars(
        "MSFT", AssetClass.STOCK, Timeframe.H1, utc(2024, 5, 1), utc(2024, 6, 1)
    ).bars
    again = PROVIDER.fetch_bars(
        "MSFT", AssetClass.STOCK, Timeframe.H1, utc(2024, 5, 1), utc(2024, 6, 1)
    ).bars
    part = PROVIDER.fetch_bars(
        "MSFT", AssetClass.STOCK, Timeframe.H1, utc(2024, 5, 10), utc(2024, 5, 20)
    ).bars
    assert whole == again
    assert set(part) <= set(whole)


def test_stocks_trade_only_in_sessions_and_crypto_all_week() -> None:
    stock = PROVIDER.fetch_bars(
        "SPY", AssetClass.ETF, Timeframe.M30, utc(2024, 7, 1), utc(2024, 7, 8)
    ).bars
    for bar in stock:
        # Extended hours: 04:00 to 20:00 New York (to 17:00 after the early close of 3 July).
        opens, closes = nyse().extended_bounds(bar.time.astimezone(NEW_YORK).date())
        assert opens <= bar.time < closes
    sessions = [nyse().session_bounds(b.time.astimezone(NEW_YORK).date()) for b in stock]
    regular = [
        b for b, (opens, closes) in zip(stock, sessions, strict=True) if opens <= b.time < closes
    ]
    assert 0 < len(regular) < len(stock)  # pre- and post-market bars too
    assert not any(b.time.astimezone(NEW_YORK).date().isoformat() == "2024-07-04" for b in stock)
    crypto = PROVIDER.fetch_bars(
        "ETH-USD", AssetClass.CRYPTO, Timeframe.H4, utc(2024, 7, 1), utc(2024, 7, 8)
    ).bars
    assert len(crypto) == 7 * 6
    assert crypto[1].time - crypto[0].time == timedelta(hours=4)
