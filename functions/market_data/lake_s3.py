"""The lake's files: Arrow tables as zstd Parquet objects in S3 (moto locally).

Each partition is one object, written whole with a single PUT (multipart past
the SDK's threshold), so a reader sees the old file or the new one, never a mix.
Locally the same objects are mirrored into a directory, which `make sql` (DuckDB)
reads: the emulated S3 lives only as long as make dev, the directory stays.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from market_data.lake import ACTIONS_PREFIX, Partition

logger = logging.getLogger(__name__)

COMPRESSION = "zstd"
# Row groups of about a million rows: big enough for Athena's and DuckDB's scans,
# with min/max statistics on symbol and time to skip the rest.
ROW_GROUP_ROWS = 1 << 20


def parquet_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(
        table, out, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS, write_statistics=True
    )
    return out.getvalue()


class S3LakeSink:
    """Writes the lake's objects to one bucket (and, locally, a mirror directory)."""

    def __init__(self, s3: Any, bucket: str, mirror: Path | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._mirror = mirror

    def write_partitions(self, table: pa.Table, partitions: Sequence[Partition]) -> list[int]:
        written = []
        single = len(partitions) == 1
        for partition in partitions:
            part = table
            if not single:
                times = table.column("time")
                start = pa.scalar(partition.start, type=times.type)
                end = pa.scalar(partition.end, type=times.type)
                part = table.filter(pc.and_(pc.greater_equal(times, start), pc.less(times, end)))
            if part.num_rows:
                self._put(partition.key, parquet_bytes(part))
            else:
                self._delete(partition.key)
            written.append(part.num_rows)
        return written

    def write_actions(self, splits: pa.Table, dividends: pa.Table) -> None:
        # A folder each: a catalog table's location is a prefix, not a file.
        self._put(f"{ACTIONS_PREFIX}/splits/splits.parquet", parquet_bytes(splits))
        self._put(f"{ACTIONS_PREFIX}/dividends/dividends.parquet", parquet_bytes(dividends))

    def _put(self, key: str, body: bytes) -> None:
        self._s3.upload_fileobj(io.BytesIO(body), self._bucket, key)
        if self._mirror is not None:
            path = self._mirror / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)

    def _delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        if self._mirror is not None:
            (self._mirror / key).unlink(missing_ok=True)


def restore_mirror(s3: Any, bucket: str, mirror: Path) -> int:
    """Upload a mirror directory's objects into the bucket (a fresh emulator); returns files."""
    count = 0
    for path in sorted(mirror.rglob("*.parquet")):
        s3.upload_file(str(path), bucket, path.relative_to(mirror).as_posix())
        count += 1
    return count
