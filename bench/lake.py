"""Lake write throughput: the warehouse's bars to zstd Parquet partitions, against two floors.

The lake path is what the export function does after a run: one COPY per
partition group out of PostgreSQL (PARALLEL_GROUPS groups at once), Arrow's CSV
reader a block at a time, the month split and a zstd Parquet file per partition
written as the rows come. The first floor is only the last step: the same rows,
already an Arrow table in memory, written with the same options. It leaves out
reading the rows from PostgreSQL, which alone is several times slower than it,
so the second floor is that read and nothing else: the same COPY statements on
as many connections, in CSV and in binary (the faster counts), bytes discarded.
Objects go to a null S3 client (the upload is the network's, not this code's).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pyarrow as pa
from psycopg.conninfo import make_conninfo

from bench.readpath import count_series_stats
from bench.stats import Row
from market_data.lake import PARALLEL_GROUPS, LakeWriter, Partition, touched_partitions
from market_data.lake_s3 import S3LakeSink, parquet_bytes
from market_data.migrations import apply_migrations
from market_data.repositories.lake import PostgresLakeSource, bars_copy

DATABASE = "mdw_bench_lake"


class NullS3:
    """Takes every object and keeps only its size."""

    def __init__(self) -> None:
        self.bytes = 0

    def upload_fileobj(self, body: Any, bucket: str, key: str) -> None:
        while piece := body.read(1 << 20):
            self.bytes += len(piece)

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
        count_series_stats(conn)
        conn.execute("VACUUM ANALYZE bars")
    return symbols * bars


def _read_only(url: str, partitions: list[Partition], csv: bool) -> float:
    """Seconds to stream the lake's COPY statements out of PostgreSQL, PARALLEL_GROUPS
    at a time as the lake runs them, and drop the bytes: the source's own cost."""

    def read(partition: Partition) -> None:
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            statement = bars_copy(conn, partition.timeframe, partition.start, partition.end, csv)
            assert statement is not None
            with cur.copy(statement) as copy:
                for _ in copy:
                    pass

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL_GROUPS) as pool:
        list(pool.map(read, partitions))
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
    partitions = touched_partitions(s.range for s in source.series_states())
    lake_rates: list[float] = []
    floor_rates: list[float] = []
    csv_rates: list[float] = []
    binary_rates: list[float] = []
    for _ in range(rounds):
        s3 = NullS3()
        writer = LakeWriter(source, S3LakeSink(s3, "bench"))
        started = time.perf_counter()
        report = writer.write_partitions(partitions)
        lake_rates.append(report.rows / (time.perf_counter() - started))
        # The floor: the same rows, already an Arrow table, written the same way.
        tables = [
            pa.concat_tables(source.read_bars(p.timeframe, p.start, p.end)) for p in partitions
        ]
        started = time.perf_counter()
        for table in tables:
            parquet_bytes(table)
        floor_rates.append(sum(t.num_rows for t in tables) / (time.perf_counter() - started))
        csv_rates.append(total / _read_only(url, partitions, csv=True))
        binary_rates.append(total / _read_only(url, partitions, csv=False))
    assert report.rows == total, (report.rows, total)
    lake, floor, csv, binary = (
        sorted(r)[len(r) // 2] for r in (lake_rates, floor_rates, csv_rates, binary_rates)
    )
    read = max(csv, binary)
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
        Row.judged(
            "lake",
            f"lake write vs reading the same rows out of PostgreSQL alone ({PARALLEL_GROUPS}"
            f" connections, bytes discarded; CSV {csv:,.0f}, binary {binary:,.0f} bars/s,"
            f" the faster is the floor; reading alone is {read / floor:.2f}x the in-memory write)",
            lake,
            read,
            "bars/s",
            ">= 75% of reading alone",
            lake >= 0.75 * read,
            "{:,.0f}",
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
