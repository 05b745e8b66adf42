"""The lake's reads from the warehouse: whole partitions as Arrow tables, fast.

A partition is read with one `COPY (SELECT ...) TO STDOUT (FORMAT CSV)` and
parsed by Arrow's multi-threaded CSV reader: PostgreSQL formats the rows in its
own process and no Python object is made per bar (building tuples and then
columns in Python was the slow part). Floats round-trip exactly (PostgreSQL 12+
prints the shortest exact representation); NULL is an unquoted empty field and
an empty string a quoted one, which the reader tells apart.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from datetime import datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from market_data.lake import LAKE_COLUMNS, SeriesRange
from market_data.repositories.jobs import ConnectionSource
from market_data.timeframes import Timeframe

UTC_TIME = pa.timestamp("us", tz="UTC")
BAR_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("time", UTC_TIME),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("vwap", pa.float64()),
        ("trades", pa.int64()),
        ("source", pa.string()),
        ("validated", pa.bool_()),
        ("quality_score", pa.float32()),
        ("validation_notes", pa.string()),
        ("gap_detected", pa.bool_()),
        ("volume_anomaly", pa.bool_()),
        ("fetched_at", UTC_TIME),
    ]
)
assert tuple(BAR_SCHEMA.names) == LAKE_COLUMNS
SPLIT_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("execution_date", pa.date32()),
        ("split_from", pa.float64()),
        ("split_to", pa.float64()),
        ("source", pa.string()),
        ("fetched_at", UTC_TIME),
    ]
)
DIVIDEND_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ex_dividend_date", pa.date32()),
        ("dividend_type", pa.string()),
        ("cash_amount", pa.float64()),
        ("currency", pa.string()),
        ("declaration_date", pa.date32()),
        ("record_date", pa.date32()),
        ("pay_date", pa.date32()),
        ("frequency", pa.int32()),
        ("source", pa.string()),
        ("fetched_at", UTC_TIME),
    ]
)
_TIMESTAMPS = ("time", "fetched_at")

_RUN_RANGES = """
SELECT symbol, timeframe, range_start, range_end FROM backfill_jobs
WHERE run_id = %s AND status = 'succeeded' AND bars_upserted > 0
"""
_ALL_RANGES = """
SELECT symbol, timeframe, first_time, last_time + interval '1 microsecond' FROM series_stats
WHERE records > 0 AND first_time IS NOT NULL
"""


def _select(schema: pa.Schema, table: str) -> sql.Composed:
    """The table's columns, timestamps printed in UTC without offset (Arrow reads them)."""
    columns = [
        sql.SQL("{} AT TIME ZONE 'UTC'").format(sql.Identifier(name))
        if schema.field(name).type == UTC_TIME
        else sql.Identifier(name)
        for name in schema.names
    ]
    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(columns), sql.Identifier(table))


def _parse(data: IO[bytes] | bytes, schema: pa.Schema) -> pa.Table:
    """CSV from COPY as an Arrow table of the schema (timestamps read naive, then UTC)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    if not source.read(1):
        return schema.empty_table()
    source.seek(0)
    naive = {f.name: pa.timestamp("us") if f.type == UTC_TIME else f.type for f in schema}
    table = pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=naive,
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return table.cast(schema)


class PostgresLakeSource:
    """The lake's view of the warehouse, one pooled connection per call."""

    def __init__(self, connect: ConnectionSource) -> None:
        self._connect = connect

    def run_ranges(self, run_id: uuid.UUID) -> list[SeriesRange]:
        with self._connect() as conn:
            rows = conn.execute(_RUN_RANGES, (run_id,)).fetchall()
        return [SeriesRange(r[0], Timeframe(r[1]), r[2], r[3]) for r in rows]

    def all_ranges(self) -> list[SeriesRange]:
        with self._connect() as conn:
            rows = conn.execute(_ALL_RANGES).fetchall()
        return [SeriesRange(r[0], Timeframe(r[1]), r[2], r[3]) for r in rows]

    def read_bars(self, timeframe: Timeframe, start: datetime, end: datetime) -> pa.Table:
        with self._connect() as conn:
            # The series of the timeframe, so each is a range scan of the primary key
            # (symbol, timeframe, time) rather than one scan of the whole table.
            symbols = [
                r[0]
                for r in conn.execute(
                    "SELECT symbol FROM series_stats WHERE timeframe = %s", (timeframe.value,)
                )
            ]
            if not symbols:
                return BAR_SCHEMA.empty_table()
            statement = sql.SQL(
                "COPY ({select} WHERE symbol = ANY({symbols}::text[]) AND timeframe = {tf}"
                " AND time >= {start} AND time < {end} ORDER BY symbol, time)"
                " TO STDOUT (FORMAT CSV)"
            ).format(
                select=_select(BAR_SCHEMA, "bars"),
                symbols=sql.Literal(symbols),
                tf=sql.Literal(timeframe.value),
                start=sql.Literal(start),
                end=sql.Literal(end),
            )
            return _read(conn, statement, BAR_SCHEMA)

    def read_actions(self) -> tuple[pa.Table, pa.Table]:
        with self._connect() as conn:
            splits = sql.SQL("COPY ({} ORDER BY symbol, execution_date) TO STDOUT (FORMAT CSV)")
            dividends = sql.SQL(
                "COPY ({} ORDER BY symbol, ex_dividend_date, dividend_type) TO STDOUT (FORMAT CSV)"
            )
            return (
                _read(conn, splits.format(_select(SPLIT_SCHEMA, "splits")), SPLIT_SCHEMA),
                _read(
                    conn, dividends.format(_select(DIVIDEND_SCHEMA, "dividends")), DIVIDEND_SCHEMA
                ),
            )


def _read(conn: Any, statement: sql.Composed, schema: pa.Schema) -> pa.Table:
    """Run a COPY ... TO STDOUT into a temporary file and parse it: memory holds the
    parsed table only, never the CSV text as well."""
    with tempfile.TemporaryFile() as spool:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for chunk in copy:
                spool.write(chunk)
        spool.seek(0)
        return _parse(spool, schema)
