"""Generated history as the warehouse judges it: essentially nothing is flagged."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from market_data.providers.synthetic import SyntheticProvider
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.validation import assess, is_flagged
from tests.helpers import synthetic_bars, utc

PROVIDER = SyntheticProvider()
TODAY = date(2026, 12, 1)
STOCK, ETF, CRYPTO, INDEX = AssetClass.STOCK, AssetClass.ETF, AssetClass.CRYPTO, AssetClass.INDEX

SERIES = [
    # Splits and dividends, daily since 2015 and weekly.
    ("AAPL", STOCK, Timeframe.D1, utc(2015, 1, 1), utc(2026, 12, 1)),
    ("NVDA", STOCK, Timeframe.D1, utc(2015, 1, 1), utc(2026, 12, 1)),
    ("TSLA", STOCK, Timeframe.W1, utc(2015, 1, 1), utc(2026, 12, 1)),
    ("COST", STOCK, Timeframe.D1, utc(2015, 1, 1), utc(2026, 12, 1)),  # special dividends
    ("KO", STOCK, Timeframe.D1, utc(2020, 1, 1), utc(2026, 12, 1)),
    ("VIX", INDEX, Timeframe.D1, utc(2015, 1, 1), utc(2026, 12, 1)),
    ("SHIB-USD", CRYPTO, Timeframe.D1, utc(2020, 1, 1), utc(2026, 12, 1)),
    # Intraday with extended hours and the shape of the day, across a split.
    ("AAPL", STOCK, Timeframe.M5, utc(2020, 8, 17), utc(2020, 9, 12)),
    ("NVDA", STOCK, Timeframe.M15, utc(2024, 5, 20), utc(2024, 6, 20)),
    ("SPY", ETF, Timeframe.M5, utc(2026, 10, 20), utc(2026, 12, 1)),
    ("ARKK", ETF, Timeframe.H1, utc(2026, 9, 1), utc(2026, 12, 1)),
    ("XLE", ETF, Timeframe.H4, utc(2026, 9, 1), utc(2026, 12, 1)),
    ("VIX", INDEX, Timeframe.M5, utc(2026, 11, 1), utc(2026, 12, 1)),
    ("BTC-USD", CRYPTO, Timeframe.H1, utc(2026, 6, 1), utc(2026, 12, 1)),
    ("DOGE-USD", CRYPTO, Timeframe.M5, utc(2026, 11, 10), utc(2026, 12, 1)),
]


@pytest.mark.parametrize(("symbol", "asset_class", "timeframe", "start", "end"), SERIES)
def test_generated_history_passes_validation_at_full_quality(
    symbol: str, asset_class: AssetClass, timeframe: Timeframe, start: datetime, end: datetime
) -> None:
    bars = synthetic_bars(symbol, asset_class, timeframe, start, end)
    splits = PROVIDER.fetch_actions(symbol, asset_class, as_of=TODAY).actions.splits

    results = assess(bars, asset_class, timeframe, splits=splits)

    flagged = [(r.bar.time, r.assessment.notes) for r in results if is_flagged(r.assessment)]
    assert len(flagged) <= len(results) // 1000, flagged  # at most 0.1 %
    assert all(r.assessment.validated and r.assessment.quality_score >= 0.95 for r in results)
