"""The lake's files: Arrow tables as zstd Parquet objects in S3 (moto locally).

A partition's file is encoded as its rows stream in, a row group at a time,
into a spooled temporary file (memory for a small one, disk past SPOOL_BYTES),
and uploaded whole with a single PUT (multipart past the SDK's threshold) once
complete, so a reader sees the old file or the new one, never a mix. Memory
holds the batch in hand and each open partition's next row group, never a
partition. Locally the same objects are mirrored into a directory, which `make
sql` (DuckDB) reads: the emulated S3 lives only as long as make dev, the
directory stays.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from market_data.lake import ACTIONS_PREFIX, BARS_PREFIX, MANIFEST_KEY, Partition, SeriesState
from market_data.timeframes import Timeframe

logger = logging.getLogger(__name__)

COMPRESSION = "zstd"
# Row groups of 131,072 rows (DuckDB writes 122,880): big enough for Athena's and
# DuckDB's scans, with min/max statistics on symbol and time to skip the rest, and
# small enough that the one a partition is filling costs some 16 MB of memory.
ROW_GROUP_ROWS = 1 << 17
# A partition's file stays in memory up to this size, then goes to /tmp.
SPOOL_BYTES = 32 << 20
MANIFEST_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("timeframe", pa.string()),
        ("source", pa.string()),
        ("records", pa.int64()),
        ("first_time", pa.timestamp("us", tz="UTC")),
        ("last_time", pa.timestamp("us", tz="UTC")),
    ]
)
_PARTITION_KEY = re.compile(
    rf"{BARS_PREFIX}/timeframe=([^/]+)/month=(\d{{4}})-(\d{{2}})/[^/]+\.parquet"
)


def parquet_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(
        table, out, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS, write_statistics=True
    )
    return out.getvalue()


class S3LakeSink:
    """Writes the lake's objects to one bucket (and, locally, a mirror directory)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        mirror: Path | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._mirror = mirror
        self._row_group_rows = row_group_rows

    def write_partitions(
        self, batches: Iterable[pa.Table], partitions: Sequence[Partition]
    ) -> list[int]:
        files = [_PartitionFile(self._row_group_rows) for _ in partitions]
        try:
            for batch in batches:
                if len(partitions) == 1:
                    files[0].add(batch)
                    continue
                # Rows come by symbol, then time: every batch may hold each month.
                times = batch.column("time")
                for partition, file in zip(partitions, files, strict=True):
                    start = pa.scalar(partition.start, type=times.type)
                    end = pa.scalar(partition.end, type=times.type)
                    file.add(
                        batch.filter(pc.and_(pc.greater_equal(times, start), pc.less(times, end)))
                    )
            for partition, file in zip(partitions, files, strict=True):
                if body := file.finish():
                    self._put_file(partition.key, body)
                else:
                    self._delete(partition.key)
            return [file.rows for file in files]
        finally:
            for file in files:
                file.close()

    def stored_partitions(self) -> list[Partition]:
        found = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"{BARS_PREFIX}/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                if match := _PARTITION_KEY.fullmatch(item["Key"]):
                    timeframe, year, month = match.groups()
                    found.append(Partition(Timeframe(timeframe), date(int(year), int(month), 1)))
        return sorted(found)

    def read_manifest(self) -> list[SeriesState] | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=MANIFEST_KEY)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        table = pq.read_table(io.BytesIO(body))
        columns = [table.column(n).to_pylist() for n in MANIFEST_SCHEMA.names]
        return [
            SeriesState(symbol, Timeframe(tf), source, records, first, last)
            for symbol, tf, source, records, first, last in zip(*columns, strict=True)
        ]

    def write_manifest(self, states: Sequence[SeriesState]) -> None:
        ordered = sorted(states, key=lambda s: (s.symbol, s.timeframe.value))
        table = pa.table(
            {
                "symbol": [s.symbol for s in ordered],
                "timeframe": [s.timeframe.value for s in ordered],
                "source": [s.source for s in ordered],
                "records": [s.records for s in ordered],
                "first_time": [s.first for s in ordered],
                "last_time": [s.last for s in ordered],
            },
            schema=MANIFEST_SCHEMA,
        )
        self._put(MANIFEST_KEY, parquet_bytes(table))

    def write_actions(self, splits: pa.Table, dividends: pa.Table) -> None:
        # A folder each: a catalog table's location is a prefix, not a file.
        self._put(f"{ACTIONS_PREFIX}/splits/splits.parquet", parquet_bytes(splits))
        self._put(f"{ACTIONS_PREFIX}/dividends/dividends.parquet", parquet_bytes(dividends))

    def _put(self, key: str, body: bytes) -> None:
        self._put_file(key, io.BytesIO(body))

    def _put_file(self, key: str, body: IO[bytes]) -> None:
        # The mirror first: the upload closes the file it reads.
        if self._mirror is not None:
            path = self._mirror / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            body.seek(0)
            with tmp.open("wb") as out:
                shutil.copyfileobj(body, out)
            tmp.replace(path)
        body.seek(0)
        self._s3.upload_fileobj(body, self._bucket, key)

    def _delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        if self._mirror is not None:
            (self._mirror / key).unlink(missing_ok=True)


class _PartitionFile:
    """One partition's Parquet file as its rows arrive: they wait in memory until a row
    group's worth, which is then encoded and written to the spool."""

    def __init__(self, row_group_rows: int) -> None:
        self._row_group_rows = row_group_rows
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def add(self, batch: pa.Table) -> None:
        if not batch.num_rows:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= self._row_group_rows:
            self._flush()

    def finish(self) -> IO[bytes] | None:
        """The complete file, or None when no row came."""
        self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        return self._spool

    def close(self) -> None:
        self._spool.close()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        group = pa.concat_tables(self._pending)
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._spool, group.schema, compression=COMPRESSION, write_statistics=True
            )
        self._writer.write_table(group, row_group_size=self._pending_rows)
        self._pending, self._pending_rows = [], 0


def restore_mirror(s3: Any, bucket: str, mirror: Path) -> int:
    """Upload a mirror directory's objects into the bucket (a fresh emulator); returns files."""
    count = 0
    for path in sorted(mirror.rglob("*.parquet")):
        s3.upload_file(str(path), bucket, path.relative_to(mirror).as_posix())
        count += 1
    return count
