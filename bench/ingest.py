"""Ingest: the backfill's upsert path vs binary COPY (floor) vs row-by-row executemany."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.stats import Row
from market_data.models import BAR_COLUMNS, Assessment, RawBar, StoredBar
from market_data.repositories.bars import upsert_bars
from market_data.timeframes import Timeframe

SYMBOL = "S0002"  # series the read-path table already holds
MANY_SYMBOL = "S0003"
_FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


def _batch(start: datetime, size: int, price: float) -> list[StoredBar]:
    return [
        StoredBar(
            RawBar(
                start + timedelta(minutes=i),
                price,
                price + 1,
                price - 1,
                price + 0.5,
                1000.0 + i,
                price + 0.2,
                12,
            ),
            "polygon",
            Assessment(),
            _FETCHED,
        )
        for i in range(size)
    ]


def _copy_floor(conn: psycopg.Connection[Any], batch: list[StoredBar]) -> float:
    conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bars_floor (LIKE bars EXCLUDING ALL)")
    conn.execute("TRUNCATE bars_floor")
    started = time.perf_counter()
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy("COPY bars_floor FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(
            [
                "text",
                "text",
                "timestamptz",
                "float8",
                "float8",
                "float8",
                "float8",
                "float8",
                "float8",
                "int8",
                "text",
                "bool",
                "float4",
                "text",
                "bool",
                "bool",
                "timestamptz",
            ]
        )
        for item in batch:
            b = item.bar
            copy.write_row(
                (
                    SYMBOL,
                    "1m",
                    b.time,
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    b.vwap,
                    b.trades,
                    item.source,
                    True,
                    1.0,
                    None,
                    False,
                    False,
                    item.fetched_at,
                )
            )
    return time.perf_counter() - started


def _executemany(conn: psycopg.Connection[Any], batch: list[StoredBar], symbol: str) -> float:
    """What the replaced system did: one INSERT .. ON CONFLICT per bar."""
    columns = ", ".join(("symbol", "timeframe", *BAR_COLUMNS))
    placeholders = ", ".join(["%s"] * (len(BAR_COLUMNS) + 2))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in BAR_COLUMNS[1:])
    statement = (
        f"INSERT INTO bars ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (symbol, timeframe, time) DO UPDATE SET {updates}"
    )
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            statement,
            [
                (
                    symbol,
                    "1m",
                    i.bar.time,
                    i.bar.open,
                    i.bar.high,
                    i.bar.low,
                    i.bar.close,
                    i.bar.volume,
                    i.bar.vwap,
                    i.bar.trades,
                    i.source,
                    True,
                    1.0,
                    None,
                    False,
                    False,
                    i.fetched_at,
                )
                for i in batch
            ],
        )
    return time.perf_counter() - started


def _half_overlapping_start(conn: psycopg.Connection[Any], symbol: str, size: int) -> datetime:
    """Where a batch must start so its first half revises existing bars and the rest is new."""
    row = conn.execute(
        "SELECT max(time) FROM bars WHERE symbol = %s AND timeframe = '1m'", (symbol,)
    ).fetchone()
    assert row and row[0], "the read-path table must be populated first"
    last: datetime = row[0]
    return last - timedelta(minutes=size // 2 - 1)


def run(conn: psycopg.Connection[Any], batch_size: int, rounds: int) -> list[Row]:
    upsert_rates, copy_rates, many_rates = [], [], []
    for round_number in range(rounds):
        price = 500.0 + round_number  # new prices, so overlapping bars really are revised
        batch = _batch(_half_overlapping_start(conn, SYMBOL, batch_size), batch_size, price)
        started = time.perf_counter()
        upsert_bars(conn, SYMBOL, Timeframe.M1, batch)
        upsert_rates.append(batch_size / (time.perf_counter() - started))
        copy_rates.append(batch_size / _copy_floor(conn, batch))
        small = batch_size // 10  # row by row is slow; a tenth of the batch shows the rate
        many_batch = _batch(_half_overlapping_start(conn, MANY_SYMBOL, small), small, price)
        many_rates.append(small / _executemany(conn, many_batch, MANY_SYMBOL))
    conn.execute("DROP TABLE IF EXISTS bars_floor")
    upsert, copy, many = (sorted(r)[len(r) // 2] for r in (upsert_rates, copy_rates, many_rates))
    return [
        Row.judged(
            "ingest",
            f"upsert {batch_size:,}-bar batches vs binary COPY",
            upsert,
            copy,
            "bars/s",
            ">= 50% of COPY",
            upsert >= 0.5 * copy,
            "{:,.0f}",
        ),
        Row.judged(
            "ingest",
            "upsert vs row-by-row executemany",
            upsert,
            many,
            "bars/s",
            ">= 10x executemany",
            upsert >= 10 * many,
            "{:,.0f}",
        ),
    ]
