"""An export's files: pages of API rows as one zstd Parquet or CSV object per timeframe.

Streamed: each page becomes a Parquet row group (or CSV lines) in a temporary
file, then the file goes to S3 in one upload (multipart when large), so memory
holds one page, not the export.
"""

from __future__ import annotations

import csv
import os
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from market_data.exports import ExportFile, ExportFormat
from market_data.exports_s3 import file_key
from market_data.history import csv_value
from market_data.models import BAR_COLUMNS
from market_data.repositories.lake import BAR_SCHEMA
from market_data.timeframes import Timeframe

EXPORT_COLUMNS = ("symbol", "timeframe", *BAR_COLUMNS)
EXPORT_SCHEMA = pa.schema(
    [pa.field("symbol", pa.string()), pa.field("timeframe", pa.string())]
    + [BAR_SCHEMA.field(name) for name in BAR_COLUMNS]
)


def page_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, EXPORT_SCHEMA, strict=True)],
        schema=EXPORT_SCHEMA,
    )


class S3ExportFiles:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(
        self,
        export_id: uuid.UUID,
        timeframe: Timeframe,
        fmt: ExportFormat,
        pages: Iterable[Sequence[tuple[Any, ...]]],
    ) -> ExportFile | None:
        name = f"bars_{timeframe.value}.{fmt.value}"
        rows = 0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            if fmt is ExportFormat.PARQUET:
                with pq.ParquetWriter(path, EXPORT_SCHEMA, compression="zstd") as writer:
                    for page in pages:
                        writer.write_table(page_table(page))
                        rows += len(page)
            else:
                with open(path, "w", newline="") as out:
                    writer_csv = csv.writer(out, lineterminator="\n")
                    writer_csv.writerow(EXPORT_COLUMNS)
                    for page in pages:
                        writer_csv.writerows([csv_value(v) for v in row] for row in page)
                        rows += len(page)
            if not rows:
                return None
            size = os.path.getsize(path)
            key = file_key(export_id, name)
            self._s3.upload_file(path, self._bucket, key)
        return ExportFile(key=key, timeframe=timeframe, rows=rows, bytes=size)
