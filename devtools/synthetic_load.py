"""Load synthetic history straight through the warehouse's upsert path."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from market_data.models import Assessment, StoredBar
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.bars import upsert_bars
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


def load_series(
    conn: Connection[Any],
    symbol: str,
    asset_class: AssetClass,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
) -> int:
    provider = SyntheticProvider()
    fetched_at = datetime.now(UTC)
    bars = provider.fetch_bars(symbol, asset_class, timeframe, start, end).bars
    stored: Iterable[StoredBar] = (
        StoredBar(bar, provider.source, Assessment(), fetched_at) for bar in bars
    )
    return upsert_bars(conn, symbol, timeframe, stored)
