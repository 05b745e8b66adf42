"""The lake's reads from the warehouse: partitions as a stream of Arrow tables, fast.

A partition group is read with one `COPY (SELECT ...) TO STDOUT (FORMAT CSV)`,
cut into blocks of whole rows and parsed a block at a time by Arrow's
multi-threaded CSV reader: PostgreSQL formats the rows in its own process and no
Python object is made per bar beyond the row's bytes (building tuples and then
columns in Python was the slow part). A thread reads the COPY while the caller
parses and encodes the block before, so the server's formatting (the bound)
overlaps the client's work, and at most a few blocks are held at once. Floats
round-trip exactly (PostgreSQL 12+ prints the shortest exact representation);
NULL is an unquoted empty field and an empty string a quoted one, which the
reader tells apart.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from market_data.lake import LAKE_COLUMNS, SeriesRange, SeriesState
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
# CSV text parsed at a time: 8 MB is about 80,000 bars (an Arrow batch of some 10 MB).
BLOCK_BYTES = 8 << 20
# Blocks read ahead of the parser: enough to keep the COPY busy, few enough to bound memory.
_READ_AHEAD = 2
# Arrow's reader parses a block in pieces of this size, on the calling thread: partition
# groups are written in parallel already, and Arrow's own pool on top of them and the
# COPYs oversubscribed the cores (slightly slower in the lake benchmark).
_PARSE_PIECE = 1 << 20

_RUN_RANGES = """
SELECT symbol, timeframe, range_start, range_end FROM backfill_jobs
WHERE run_id = %s AND status = 'succeeded' AND bars_upserted > 0
"""
_SERIES = """
SELECT symbol, timeframe, source, records, first_time, last_time FROM series_stats
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


def _parse(block: bytearray, schema: pa.Schema) -> pa.Table:
    """Whole CSV rows from COPY as an Arrow table of the schema (timestamps read naive,
    then UTC)."""
    naive = {f.name: pa.timestamp("us") if f.type == UTC_TIME else f.type for f in schema}
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(block)),
        read_options=pacsv.ReadOptions(
            column_names=schema.names, block_size=_PARSE_PIECE, use_threads=False
        ),
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

    def __init__(self, connect: ConnectionSource, block_bytes: int = BLOCK_BYTES) -> None:
        self._connect = connect
        self._block_bytes = block_bytes

    def run_ranges(self, run_id: uuid.UUID) -> list[SeriesRange]:
        with self._connect() as conn:
            rows = conn.execute(_RUN_RANGES, (run_id,)).fetchall()
        return [SeriesRange(r[0], Timeframe(r[1]), r[2], r[3]) for r in rows]

    def series_states(self) -> list[SeriesState]:
        with self._connect() as conn:
            rows = conn.execute(_SERIES).fetchall()
        return [SeriesState(r[0], Timeframe(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def read_bars(self, timeframe: Timeframe, start: datetime, end: datetime) -> Iterator[pa.Table]:
        with self._connect() as conn:
            statement = bars_copy(conn, timeframe, start, end)
            if statement is None:
                return
            yield from _stream(conn, statement, BAR_SCHEMA, self._block_bytes)

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


def bars_copy(
    conn: Any, timeframe: Timeframe, start: datetime, end: datetime, csv: bool = True
) -> sql.Composed | None:
    """The COPY of a timeframe's bars in [start, end) (None: no series of it); binary
    only for the benchmark's reading floor."""
    # The series of the timeframe, so each is a range scan of the primary key
    # (symbol, timeframe, time) rather than one scan of the whole table.
    symbols = [
        r[0]
        for r in conn.execute(
            "SELECT symbol FROM series_stats WHERE timeframe = %s", (timeframe.value,)
        )
    ]
    if not symbols:
        return None
    return sql.SQL(
        "COPY ({select} WHERE symbol = ANY({symbols}::text[]) AND timeframe = {tf}"
        " AND time >= {start} AND time < {end} ORDER BY symbol, time)"
        " TO STDOUT (FORMAT {format})"
    ).format(
        select=_select(BAR_SCHEMA, "bars"),
        symbols=sql.Literal(symbols),
        tf=sql.Literal(timeframe.value),
        start=sql.Literal(start),
        end=sql.Literal(end),
        format=sql.SQL("CSV" if csv else "BINARY"),
    )


def _read(conn: Any, statement: sql.Composed, schema: pa.Schema) -> pa.Table:
    """A COPY's rows as one table (the corporate actions: a few thousand rows)."""
    return pa.concat_tables([schema.empty_table(), *_stream(conn, statement, schema, BLOCK_BYTES)])


class _Stopped(Exception):
    """The reader of a stream went away: the COPY is cancelled."""


def _stream(
    conn: Any, statement: sql.Composed, schema: pa.Schema, block_bytes: int
) -> Iterator[pa.Table]:
    """Run a COPY ... TO STDOUT (FORMAT CSV) and yield its rows as tables of about
    block_bytes of CSV each, read by a thread `_READ_AHEAD` blocks ahead of the caller."""
    blocks: queue.Queue[bytearray | BaseException | None] = queue.Queue(_READ_AHEAD)
    stop = threading.Event()

    def put(item: bytearray | BaseException | None) -> None:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def read() -> None:
        end: BaseException | None = None  # None: every row sent
        try:
            with conn.cursor() as cur, cur.copy(statement) as copy:
                block = bytearray()
                # COPY TO sends one message per row, so a block always ends at a row's end.
                for row in copy:
                    block += row
                    if len(block) >= block_bytes:
                        put(block)
                        block = bytearray()
                if block:
                    put(block)
        except _Stopped:
            return
        except BaseException as error:  # handed to the caller, raised there
            end = error
        with contextlib.suppress(_Stopped):
            put(end)

    reader = threading.Thread(target=read, name="lake-copy", daemon=True)
    reader.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield _parse(item, schema)
    finally:
        # Also when the caller stops early: the thread cancels the COPY and the
        # connection goes back to its pool idle.
        stop.set()
        reader.join()
