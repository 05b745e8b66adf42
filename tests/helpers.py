"""Small builders shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.conninfo import make_conninfo

from devtools.synthetic_load import load_series
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def seed_series(
    conn: Connection[Any],
    symbol: str = "AAPL",
    asset_class: AssetClass = AssetClass.STOCK,
    timeframe: Timeframe = Timeframe.D1,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    add_symbols(conn, [(symbol, asset_class)])
    return load_series(
        conn, symbol, asset_class, timeframe, start or utc(2023, 1, 1), end or utc(2025, 1, 1)
    )


def table_checksum(conn: Connection[Any], table: str = "bars") -> str:
    row = conn.execute(
        f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
    ).fetchone()
    return str(row[0]) if row else ""


def synthetic_bars(
    symbol: str, asset_class: Any, timeframe: Any, start: datetime, end: datetime
) -> list[Any]:
    """The synthetic provider's bars for a range (what a backfill job would fetch)."""
    from market_data.providers.synthetic import SyntheticProvider

    return SyntheticProvider().fetch_bars(symbol, asset_class, timeframe, start, end).bars


def recount_series_stats(conn: Connection[Any]) -> None:
    """Recount series_stats from the bars, after a test edited bars directly (deleted
    some, changed flags): the write path keeps the stats by deltas, and such edits
    bypass it. The conn fixture checks the stats against a recount afterwards."""
    conn.execute(
        """
        WITH counted AS (
            SELECT symbol, timeframe, count(*) AS records,
                   count(*) FILTER (WHERE validated) AS validated,
                   count(*) FILTER (WHERE gap_detected) AS gaps,
                   min(time) AS first_time, max(time) AS last_time
            FROM bars GROUP BY symbol, timeframe
        )
        UPDATE series_stats s SET records = c.records, validated_records = c.validated,
               gap_records = c.gaps, first_time = c.first_time, last_time = c.last_time
        FROM counted c WHERE c.symbol = s.symbol AND c.timeframe = s.timeframe
        """
    )


def fresh_database(settings: Settings, name: str) -> str:
    """A new, empty database `name` on the test server (dropped first if it exists)."""
    url = str(settings.database_url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(url, dbname=name)
