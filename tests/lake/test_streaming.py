"""A partition is streamed: memory holds a batch and a row group, never the partition.

The warehouse gets one month of 1m bars many times the read's batch and the
file's row group; the lake writes it with small batches while the peak of
Arrow's memory pool (the parsed rows, the row group waiting, the encoder's
buffers) is measured, and Python's (the COPY's row bytes and blocks, the
encoded file's spool). Both must stay far below what the partition takes as one
Arrow table, which the whole-partition build held (and a too-large batch
would). The objects go to a stand-in that reads them in small pieces: the S3
emulator's own copies of a request are not the lake's memory.
"""

from __future__ import annotations

import threading
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import Connection
from psycopg_pool import ConnectionPool

from market_data.lake import LakeWriter, Partition
from market_data.lake_s3 import S3LakeSink
from market_data.models import Assessment, RawBar, StoredBar
from market_data.repositories.bars import upsert_bars
from market_data.repositories.lake import PostgresLakeSource
from market_data.settings import Settings
from market_data.timeframes import Timeframe
from tests.lake.support import checksum, warehouse_partitions

SYMBOLS, MINUTES = 4, 40_000  # 160,000 bars, all in January 2024
BLOCK_BYTES = 64 << 10  # about 650 bars of CSV a batch
ROW_GROUP_ROWS = 4_096
FETCHED = datetime(2024, 2, 1, tzinfo=UTC)
# Measuring pools, kept for the process's life: a buffer allocated from one must
# never outlive it.
_POOLS: list[pa.MemoryPool] = []


class DiscardingS3:
    """Takes each object in small pieces and keeps only its size."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def upload_fileobj(self, body: Any, bucket: str, key: str) -> None:
        self.sizes[key] = 0
        while piece := body.read(64 << 10):
            self.sizes[key] += len(piece)


def _fill(conn: Connection[Any]) -> int:
    origin = datetime(2024, 1, 1, tzinfo=UTC)
    for s in range(SYMBOLS):
        bars = []
        for m in range(MINUTES):
            price = 100.0 + s + (m % 13) * 0.01
            notes = ("volume spike",) if m % 500 == 0 else ()
            verdict = Assessment(quality_score=0.9 if notes else 1.0, notes=notes)
            raw = RawBar(origin + timedelta(minutes=m), price, price + 1, price - 1, price, 1e3 + m)
            bars.append(StoredBar(raw, "synthetic", verdict, FETCHED))
        upsert_bars(conn, f"S{s}", Timeframe.M1, bars)
    return SYMBOLS * MINUTES


def test_a_partition_many_batches_long_is_written_in_memory_bounded_by_a_batch(
    conn: Connection[Any], settings: Settings, tmp_path: Path
) -> None:
    total = _fill(conn)
    url = str(settings.database_url)
    source = PostgresLakeSource(lambda: psycopg.connect(url), block_bytes=BLOCK_BYTES)
    s3 = DiscardingS3()
    # The mirror keeps the file to check (copied out of the spool in small pieces).
    sink = S3LakeSink(s3, "lake", mirror=tmp_path, row_group_rows=ROW_GROUP_ROWS)
    partition = Partition(Timeframe.M1, date(2024, 1, 1))
    writer = LakeWriter(source, sink)
    writer.write_partitions([partition])  # once first: the modules a first write imports

    previous = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(previous)  # its own peak, from zero
    _POOLS.append(pool)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        report = writer.write_partitions([partition])
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    arrow_peak = pool.max_memory()

    path = tmp_path / partition.key
    table = pq.read_table(path)
    whole = table.nbytes  # the partition as one Arrow table
    assert report.rows == total
    assert s3.sizes[partition.key] == path.stat().st_size
    assert whole > 15_000_000
    assert arrow_peak < whole / 8, (arrow_peak, whole)
    assert python_peak < whole / 4, (python_peak, whole)
    # Row groups as the rows came: each at most a row group and one batch long.
    metadata = pq.ParquetFile(path).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sum(sizes) == total
    assert len(sizes) >= total // (2 * ROW_GROUP_ROWS)
    assert max(sizes) < 2 * ROW_GROUP_ROWS
    # And the file holds exactly the warehouse's bars (checksummed independently).
    rows = [tuple(r.values()) for r in table.to_pylist()]
    assert {("1m", "2024-01"): (len(rows), checksum(rows))} == warehouse_partitions(conn)


class FailingSink(S3LakeSink):
    """Fails after the first batch, as an upload or the disk might half-way."""

    def write_partitions(self, batches: Any, partitions: Any) -> list[int]:
        next(iter(batches))
        raise OSError("no space left on device")


def test_a_write_that_fails_half_way_ends_its_copy_and_gives_the_connection_back(
    conn: Connection[Any], settings: Settings
) -> None:
    _fill(conn)
    with ConnectionPool(str(settings.database_url), min_size=1, max_size=1) as pool:
        source = PostgresLakeSource(pool.connection, block_bytes=BLOCK_BYTES)
        writer = LakeWriter(source, FailingSink(DiscardingS3(), "lake"), workers=1)

        with pytest.raises(OSError, match="no space") as failure:
            writer.write_partitions([Partition(Timeframe.M1, date(2024, 1, 1))])

        # While the failure (and its traceback, holding the read) is still alive: no
        # reading thread is left, and the pool's only connection is back and usable.
        assert failure.value is not None
        assert not [t for t in threading.enumerate() if t.name == "lake-copy"]
        with pool.connection(timeout=5) as again:
            assert again.execute("SELECT count(*) FROM bars").fetchone() == (SYMBOLS * MINUTES,)
