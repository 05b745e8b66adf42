"""Where bars come from: Polygon.io in production, a deterministic generator offline."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from market_data.models import RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


class BarProvider(Protocol):
    source: str

    def fetch_bars(
        self,
        symbol: str,
        asset_class: AssetClass,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
    ) -> list[RawBar]:
        """Bars whose window starts in [start, end), oldest first."""
        ...
