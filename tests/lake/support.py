"""The lake as tests read it: partitions from S3 and from the warehouse, checksummed alike."""

from __future__ import annotations

import hashlib
import io
import struct
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow.parquet as pq
from psycopg import Connection

from market_data.lake import LAKE_COLUMNS

LAKE_BUCKET = "mdw-lake-test"


def create_bucket(name: str = LAKE_BUCKET) -> str:
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def as_float32(value: float) -> float:
    """The value a float32 column (PostgreSQL real, Parquet float) holds for it."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def checksum(rows: list[tuple[Any, ...]]) -> str:
    """Order-sensitive digest of rows in LAKE_COLUMNS order (quality_score as stored, float32)."""
    at = LAKE_COLUMNS.index("quality_score")
    digest = hashlib.sha256()
    for row in rows:
        normal = list(row)
        normal[at] = as_float32(normal[at])
        # Instants as UTC microseconds: the drivers name the zone differently.
        normal = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in normal]
        digest.update(repr(tuple(normal)).encode())
    return digest.hexdigest()


def lake_partitions(bucket: str = LAKE_BUCKET) -> dict[tuple[str, str], tuple[int, str]]:
    """(timeframe, month) -> (rows, checksum) of every bars file in the bucket."""
    s3 = boto3.client("s3")
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="bars/"):
        for item in page.get("Contents", []):
            key = item["Key"]
            parts = dict(p.split("=", 1) for p in key.split("/")[1:3])
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            assert table.column_names == list(LAKE_COLUMNS)
            rows = [tuple(r.values()) for r in table.to_pylist()]
            found[(parts["timeframe"], parts["month"])] = (len(rows), checksum(rows))
    return found


def warehouse_partitions(conn: Connection[Any]) -> dict[tuple[str, str], tuple[int, str]]:
    """The same, computed from the bars table with an ordinary query (not the lake's COPY path)."""
    columns = ", ".join(LAKE_COLUMNS)
    rows = conn.execute(
        f"SELECT timeframe, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM'), {columns} FROM bars"
        " ORDER BY timeframe, 2, symbol, time"
    ).fetchall()
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(tuple(row[2:]))
    return {key: (len(group), checksum(group)) for key, group in grouped.items()}
