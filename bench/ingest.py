"""Ingest: the backfill's upsert path vs binary COPY (floor) vs row-by-row executemany."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench.readpath import count_series_stats
from bench.stats import Row
from market_data.models import BAR_COLUMNS, Assessment, RawBar, StoredBar
from market_data.repositories.bars import COPY_TYPES, STORED_COLUMNS, upsert_bars
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


def _copy_floor(conn: psycopg.Connection[Any], batch: list[StoredBar], *, durable: bool) -> float:
    """Seconds to binary-COPY the batch as new rows: into a logged table with the bars'
    primary key (durable), or into an unlogged one without any index."""
    conn.execute("DROP TABLE IF EXISTS bars_floor")
    if durable:
        # The key of a partition of `bars` (0007): (symbol, time), fill factor 100.
        conn.execute("CREATE TABLE bars_floor (LIKE bars INCLUDING DEFAULTS)")
        conn.execute(
            "ALTER TABLE bars_floor ADD PRIMARY KEY (symbol, time) WITH (fillfactor = 100)"
        )
    else:
        conn.execute("CREATE UNLOGGED TABLE bars_floor (LIKE bars EXCLUDING ALL)")
    started = time.perf_counter()
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(
            f"COPY bars_floor ({', '.join(STORED_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(COPY_TYPES)
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
    columns = ", ".join(STORED_COLUMNS)
    placeholders = ", ".join(["%s"] * (len(BAR_COLUMNS) + 2))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in BAR_COLUMNS[1:])
    statement = (
        f"INSERT INTO bars_1m ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (symbol, time) DO UPDATE SET {updates}"
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


NIGHTLY_BARS = 390  # one regular session of minute bars
SMALL_SERIES, BIG_SERIES = "NIGHTLY10K", "NIGHTLY1M"


def _seed_series(conn: psycopg.Connection[Any], symbol: str, bars: int) -> datetime:
    """A minute series of `bars` bars written by COPY (and its stats counted once);
    returns the time after its last bar."""
    start = datetime(2015, 1, 1, tzinfo=UTC)
    conn.execute("DELETE FROM bars WHERE symbol = %s", (symbol,))
    conn.execute("DELETE FROM series_stats WHERE symbol = %s", (symbol,))
    conn.execute(
        "SELECT ensure_bar_partitions('1m', %s, %s)", (start, start + timedelta(minutes=bars))
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY bars (symbol, timeframe, time, open, high, low, close, volume, source, validated,"
            " quality_score, fetched_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(bars):
            copy.write_row((symbol, "1m", start + timedelta(minutes=i), 10, 11, 9, 10.5, 100,
                            "polygon", True, 1.0, _FETCHED))  # fmt: skip
    count_series_stats(conn, symbol)
    conn.execute("VACUUM ANALYZE bars")
    return start + timedelta(minutes=bars)


def nightly(conn: psycopg.Connection[Any], big_bars: int, rounds: int) -> list[Row]:
    """The nightly case: a session's increment into a short and into a long series.

    With series_stats kept by deltas the write touches the batch only, so the two
    times should match however long the series is."""
    small_next = _seed_series(conn, SMALL_SERIES, 10_000)
    big_next = _seed_series(conn, BIG_SERIES, big_bars)
    small_times: list[float] = []
    big_times: list[float] = []
    for round_number in range(rounds):
        for symbol, times in ((SMALL_SERIES, small_times), (BIG_SERIES, big_times)):
            at = small_next if symbol == SMALL_SERIES else big_next
            batch = _batch(at, NIGHTLY_BARS, 20.0 + round_number)
            started = time.perf_counter()
            upsert_bars(conn, symbol, Timeframe.M1, batch)
            times.append(time.perf_counter() - started)
        small_next += timedelta(minutes=NIGHTLY_BARS)
        big_next += timedelta(minutes=NIGHTLY_BARS)
    conn.execute("DELETE FROM bars WHERE symbol = ANY(%s)", ([SMALL_SERIES, BIG_SERIES],))
    conn.execute("DELETE FROM series_stats WHERE symbol = ANY(%s)", ([SMALL_SERIES, BIG_SERIES],))
    small, big = (sorted(t)[len(t) // 2] * 1000 for t in (small_times, big_times))
    return [
        Row.judged(
            "ingest",
            f"nightly {NIGHTLY_BARS}-bar increment: {big_bars:,}-bar series vs 10,000-bar one",
            big,
            small,
            "ms",
            "<= 1.2x",
            big <= 1.2 * small,
            "{:.2f}",
        )
    ]


def run(conn: psycopg.Connection[Any], batch_size: int, rounds: int) -> list[Row]:
    upsert_rates, copy_rates, bare_rates, many_rates = [], [], [], []
    for round_number in range(rounds):
        price = 500.0 + round_number  # new prices, so overlapping bars really are revised
        batch = _batch(_half_overlapping_start(conn, SYMBOL, batch_size), batch_size, price)
        started = time.perf_counter()
        upsert_bars(conn, SYMBOL, Timeframe.M1, batch)
        upsert_rates.append(batch_size / (time.perf_counter() - started))
        copy_rates.append(batch_size / _copy_floor(conn, batch, durable=True))
        bare_rates.append(batch_size / _copy_floor(conn, batch, durable=False))
        small = batch_size // 10  # row by row is slow; a tenth of the batch shows the rate
        many_batch = _batch(_half_overlapping_start(conn, MANY_SYMBOL, small), small, price)
        many_rates.append(small / _executemany(conn, many_batch, MANY_SYMBOL))
    conn.execute("DROP TABLE IF EXISTS bars_floor")
    upsert, copy, bare, many = (
        sorted(r)[len(r) // 2] for r in (upsert_rates, copy_rates, bare_rates, many_rates)
    )
    return [
        Row.judged(
            "ingest",
            f"upsert {batch_size:,}-bar batches (half revisions) vs binary COPY into a table"
            " with the same primary key",
            upsert,
            copy,
            "bars/s",
            ">= 50% of COPY",
            upsert >= 0.5 * copy,
            "{:,.0f}",
        ),
        Row(
            "ingest",
            "upsert vs binary COPY into an unlogged table without indexes",
            f"{upsert:,.0f} bars/s",
            f"{bare:,.0f} bars/s",
            f"{upsert / bare:.2f}x",
            "reported, no goal",
            "-",
        ),
        Row.judged(
            "ingest",
            "upsert vs row-by-row executemany",
            upsert,
            many,
            "bars/s",
            ">= 3x executemany",
            upsert >= 3 * many,
            "{:,.0f}",
        ),
    ]
