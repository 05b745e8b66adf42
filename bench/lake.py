"""Lake write throughput: the warehouse's bars to zstd Parquet partitions, against the floor
of writing the same rows to Parquet from memory with the same library (pyarrow).

The lake path is what the export function does after a run: one COPY per
partition group out of PostgreSQL, Arrow's CSV reader, a split into month
partitions and a zstd Parquet file per partition. The floor is only the last
step: the same Arrow table, already in memory, written with the same options.
Objects go to a null S3 client (the upload is the network's, not this code's).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from bench.stats import Row
from market_data.lake import LakeWriter, touched_partitions
from market_data.lake_s3 import S3LakeSink, parquet_bytes
from market_data.migrations import apply_migrations
from market_data.repositories.lake import PostgresLakeSource

DATABASE = "mdw_bench_lake"


class NullS3:
    """Takes every object and keeps only its size."""

    def __init__(self) -> None:
        self.bytes = 0

    def upload_fileobj(self, body: Any, bucket: str, key: str) -> None:
        self.bytes += len(body.getvalue())

    def delete_object(self, **_: Any) -> None:
        return None


def populate(url: str, symbols: int, bars: int) -> int:
    """`symbols` series of `bars` 5-minute bars (from 2024-01-01, about two months for
    17,000 bars), with the series statistics the lake reads its symbol list from."""
    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM bars").fetchone()
        if have and have[0] == symbols * bars:
            return symbols * bars
        conn.execute("TRUNCATE bars, series_stats")
        conn.execute("SELECT ensure_bar_partitions('5m', '2024-01-01', '2024-12-31')")
        conn.execute(
            """
            INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume, vwap,
                trades, source, validated, quality_score, validation_notes, gap_detected,
                volume_anomaly, fetched_at)
            SELECT 'L' || lpad(s::text, 4, '0'), '5m',
                   timestamptz '2024-01-01 00:00+00' + m * interval '5 minutes',
                   100 + s + m %% 13 * 0.01, 101 + s, 99 + s, 100.5 + s + m %% 7 * 0.01,
                   1000 + m %% 97, 100.2 + s, 12 + m %% 5, 'synthetic', true, 1.0,
                   CASE WHEN m %% 500 = 0 THEN 'volume spike' END, false, m %% 500 = 0, now()
            FROM generate_series(1, %s) s, generate_series(0, %s - 1) m
            """,
            (symbols, bars),
        )
        conn.execute(
            """
            INSERT INTO series_stats (symbol, timeframe, records, validated_records, gap_records,
                                      first_time, last_time, updated_at)
            SELECT symbol, timeframe, count(*), count(*), 0, min(time), max(time), now()
            FROM bars GROUP BY symbol, timeframe
            """
        )
        conn.execute("VACUUM ANALYZE bars")
    return symbols * bars


def _copy_out_only(url: str, partitions: list[Any]) -> float:
    """Seconds to stream the partitions' COPY output and drop it: the source's own cost."""
    from psycopg import sql

    from market_data.repositories.lake import BAR_SCHEMA, _select

    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for p in partitions:
            statement = sql.SQL(
                "COPY ({} WHERE timeframe = {} AND time >= {} AND time < {} ORDER BY symbol, time)"
                " TO STDOUT (FORMAT CSV)"
            ).format(
                _select(BAR_SCHEMA, "bars"), sql.Literal(p.timeframe.value),
                sql.Literal(p.start), sql.Literal(p.end),
            )  # fmt: skip
            with cur.copy(statement) as copy:
                for _ in copy:
                    pass
    return time.perf_counter() - started


def run(server_url: str, symbols: int, bars: int, rounds: int) -> list[Row]:
    with psycopg.connect(server_url, autocommit=True) as admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone():
            admin.execute(f"CREATE DATABASE {DATABASE}")
    url = make_conninfo(server_url, dbname=DATABASE)
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn)
    total = populate(url, symbols, bars)

    source = PostgresLakeSource(lambda: psycopg.connect(url))
    partitions = touched_partitions(source.all_ranges())
    lake_rates, floor_rates, copy_rates = [], [], []
    for _ in range(rounds):
        s3 = NullS3()
        writer = LakeWriter(source, S3LakeSink(s3, "bench"))
        started = time.perf_counter()
        report = writer.write_partitions(partitions)
        lake_rates.append(report.rows / (time.perf_counter() - started))
        # The floor: the same rows, already an Arrow table, written the same way.
        tables = [source.read_bars(p.timeframe, p.start, p.end) for p in partitions]
        started = time.perf_counter()
        for table in tables:
            parquet_bytes(table)
        floor_rates.append(sum(t.num_rows for t in tables) / (time.perf_counter() - started))
        copy_rates.append(total / _copy_out_only(url, partitions))
    assert report.rows == total, (report.rows, total)
    lake, floor, copy = (sorted(r)[len(r) // 2] for r in (lake_rates, floor_rates, copy_rates))
    size = s3.bytes / total
    return [
        Row.judged(
            "lake",
            f"lake write of {total:,} 5m bars ({len(partitions)} month partitions, zstd Parquet)"
            " vs writing the same rows to Parquet from memory (pyarrow)",
            lake,
            floor,
            "bars/s",
            ">= 50% of the in-memory write",
            lake >= 0.5 * floor,
            "{:,.0f}",
        ),
        Row(
            "lake",
            "lake write vs the COPY out of PostgreSQL alone (the same statements, bytes discarded)",
            f"{lake:,.0f} bars/s",
            f"{copy:,.0f} bars/s",
            f"{lake / copy:.2f}x",
            "reported, no goal",
            "-",
        ),
        Row(
            "lake",
            "Parquet bytes per bar in the lake (zstd)",
            f"{size:.1f} B",
            "-",
            "-",
            "reported, no goal",
            "-",
        ),
    ]
