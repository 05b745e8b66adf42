"""Bars: the bulk upsert the backfill writes with, and the keyset page the API reads."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection, Cursor, sql
from psycopg.errors import UniqueViolation

from market_data.corporate_actions import Adjustment
from market_data.models import BAR_COLUMNS, BarPageQuery, StoredBar
from market_data.timeframes import Timeframe

_BAR_COPY_TYPES = (
    "timestamptz", "float8", "float8", "float8", "float8", "float8", "float8", "int4", "text",
    "bool", "float4", "text", "bool", "bool", "timestamptz",
)  # fmt: skip

STORED_COLUMNS = ("symbol", "timeframe", *BAR_COLUMNS)  # a row of `bars`, in its API order
COPY_TYPES = ("text", "text", *_BAR_COPY_TYPES)  # STORED_COLUMNS' types for a binary COPY
_VALUE_COLUMNS = BAR_COLUMNS[1:-1]  # what a revision may change; fetched_at follows them
MAX_NOTES_LENGTH = 160

# Writers of one series take turns (a transaction-scoped advisory lock, in the
# two-key space so it cannot meet the migrations' one-key lock). Without it, two
# jobs upserting overlapping ranges at once would each compute series_stats'
# delta against a snapshot that missed the other's uncommitted bars, and both
# would count the same new bars.
_SERIES_LOCK_CLASS = 0x626172  # "bar"
_SERIES_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, STORED_COLUMNS))
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS bars_stage
    (LIKE bars INCLUDING DEFAULTS EXCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS
"""

# Rows whose values did not change are left alone (the WHERE clause), so
# re-running a job rewrites nothing and the table stays byte-identical. It goes
# to the timeframe's partition: that is where the (symbol, time) key is unique.
_UPSERT = sql.SQL(
    """
    INSERT INTO {partition} AS b ({columns})
    SELECT {columns} FROM bars_stage
    ON CONFLICT (symbol, time) DO UPDATE SET ({values}, fetched_at) =
        ({excluded}, EXCLUDED.fetched_at)
    WHERE ({current}) IS DISTINCT FROM ({excluded})
    """
)
_UPSERT_PARTS = {
    "columns": _COLUMNS,
    "values": sql.SQL(", ").join(map(sql.Identifier, _VALUE_COLUMNS)),
    "excluded": sql.SQL(", ").join(
        sql.SQL("EXCLUDED.") + sql.Identifier(c) for c in _VALUE_COLUMNS
    ),
    "current": sql.SQL(", ").join(sql.SQL("b.") + sql.Identifier(c) for c in _VALUE_COLUMNS),
}


def partition(timeframe: Timeframe) -> sql.Identifier:
    """The partition of `bars` holding one timeframe (0007_partitioned_bars.sql)."""
    return sql.Identifier(f"bars_{timeframe.value}")


# What the merge is about to change, read under the series lock before it runs:
# the staged rows new to the series, and the flag totals of the staged rows minus
# those of the stored rows they replace (an unchanged row adds 0 either way). One
# index probe per staged bar; only bars inside the stored range are staged
# (upsert_bars), so a batch past the last bar costs no probe at all.
_STATS_DELTA = sql.SQL("""
SELECT count(*) FILTER (WHERE b.time IS NULL),
       count(*) FILTER (WHERE s.validated) - count(*) FILTER (WHERE b.validated),
       count(*) FILTER (WHERE s.gap_detected) - count(*) FILTER (WHERE b.gap_detected),
       min(s.time), max(s.time)
FROM bars_stage s
LEFT JOIN LATERAL (
    SELECT time, validated, gap_detected FROM {partition}
    WHERE symbol = s.symbol AND time = s.time
) b ON true
""")
_STORED = (
    "SELECT first_time, last_time, source FROM series_stats WHERE symbol = %s AND timeframe = %s"
)

# A series keeps bars from one provider: a write from another one first removes
# the bars that did not come from it (a provider switch, once per series), and
# the series' totals are counted again from what is left.
_DROP_OTHER_SOURCES = "DELETE FROM bars WHERE symbol = %s AND timeframe = %s AND source <> %s"
_RECOUNT_SERIES = """
UPDATE series_stats s
SET (records, validated_records, gap_records, first_time, last_time) = (
        SELECT count(*), count(*) FILTER (WHERE validated), count(*) FILTER (WHERE gap_detected),
               min(time), max(time)
        FROM bars WHERE symbol = s.symbol AND timeframe = s.timeframe),
    source = coalesce(%(source)s, s.source), updated_at = now()
WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s
RETURNING first_time, last_time, source
"""

_APPLY_STATS_DELTA = """
INSERT INTO series_stats AS s
    (symbol, timeframe, records, validated_records, gap_records, first_time, last_time, source,
     updated_at)
VALUES (%(symbol)s, %(timeframe)s, %(records)s, %(validated)s, %(gaps)s, %(first)s, %(last)s,
        %(source)s, now())
ON CONFLICT (symbol, timeframe) DO UPDATE SET
    records = s.records + EXCLUDED.records,
    validated_records = s.validated_records + EXCLUDED.validated_records,
    gap_records = s.gap_records + EXCLUDED.gap_records,
    first_time = LEAST(s.first_time, EXCLUDED.first_time),
    last_time = GREATEST(s.last_time, EXCLUDED.last_time),
    source = EXCLUDED.source,
    updated_at = EXCLUDED.updated_at
"""

# The same totals counted from the bars, beside the stored ones: the deltas must
# always add up to the count (a series without bars has no stats row, or zeros).
_DRIFT = """
WITH counted AS (
    SELECT symbol, timeframe, count(*) AS records,
           count(*) FILTER (WHERE validated) AS validated_records,
           count(*) FILTER (WHERE gap_detected) AS gap_records,
           min(time) AS first_time, max(time) AS last_time
    FROM bars GROUP BY symbol, timeframe
)
SELECT symbol, timeframe,
       (s.records, s.validated_records, s.gap_records, s.first_time, s.last_time)::text,
       (c.records, c.validated_records, c.gap_records, c.first_time, c.last_time)::text
FROM series_stats s FULL JOIN counted c USING (symbol, timeframe)
WHERE (s.records, s.validated_records, s.gap_records, s.first_time, s.last_time)
      IS DISTINCT FROM (c.records, c.validated_records, c.gap_records, c.first_time, c.last_time)
  AND NOT (c.symbol IS NULL AND s.records = 0)
ORDER BY symbol, timeframe
"""


@dataclass(frozen=True, slots=True)
class StatsDrift:
    """A series whose stored totals differ from a count of its bars."""

    symbol: str
    timeframe: str
    stored: str | None  # (records, validated, gaps, first_time, last_time), or None: no row
    counted: str | None


def series_stats_drift(conn: Connection[Any]) -> list[StatsDrift]:
    """Recount every series from the bars (a full scan: an operator's check, not a
    request's) and return those whose series_stats differ."""
    return [StatsDrift(*row) for row in conn.execute(_DRIFT).fetchall()]


def _copy_row(symbol: str, timeframe: str, item: StoredBar) -> tuple[Any, ...]:
    bar, verdict = item.bar, item.assessment
    notes = "; ".join(verdict.notes)[:MAX_NOTES_LENGTH] or None
    return (
        symbol, timeframe, bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume,
        bar.vwap, bar.trades, item.source, verdict.validated, verdict.quality_score, notes,
        verdict.gap_detected, verdict.volume_anomaly, item.fetched_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Delta:
    """What a write adds to its series' series_stats row."""

    records: int = 0
    validated: int = 0
    gaps: int = 0
    first: datetime | None = None
    last: datetime | None = None

    @classmethod
    def of_new(cls, items: Sequence[StoredBar]) -> _Delta:
        """The delta of bars new to the series (none of them replaces a stored one)."""
        times = [item.bar.time for item in items]
        return cls(
            len(items),
            sum(item.assessment.validated for item in items),
            sum(item.assessment.gap_detected for item in items),
            min(times),
            max(times),
        )

    def __add__(self, other: _Delta) -> _Delta:
        firsts = [t for t in (self.first, other.first) if t is not None]
        lasts = [t for t in (self.last, other.last) if t is not None]
        return _Delta(
            self.records + other.records,
            self.validated + other.validated,
            self.gaps + other.gaps,
            min(firsts, default=None),
            max(lasts, default=None),
        )


def upsert_bars(
    conn: Connection[Any], symbol: str, timeframe: Timeframe, bars: Iterable[StoredBar]
) -> int:
    """Insert or revise a series' bars in one transaction; returns rows written.

    Bars outside the series' stored range cannot replace a stored bar, so they go
    straight into the partition by binary COPY (the nightly increment and a first
    load are nothing else). The rest - re-fetched history, where a bar may be
    revised or unchanged - is COPYed into a session staging table and merged by
    one INSERT .. ON CONFLICT. Bars repeated in the input collapse to the last one,
    so a single statement never hits a row twice.
    """
    unique = {item.bar.time: item for item in bars}
    if not unique:
        return 0
    # A job's bars all come from its worker's provider.
    source = next(iter(unique.values())).source
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_SERIES_LOCK, (_SERIES_LOCK_CLASS, f"{symbol}|{timeframe.value}"))
        if timeframe.is_intraday:
            cur.execute(
                "SELECT ensure_bar_partitions(%s, %s, %s)",
                (timeframe.value, min(unique), max(unique)),
            )
        stored_first, stored_last, stored_source = cur.execute(
            _STORED, (symbol, timeframe.value)
        ).fetchone() or (None, None, None)
        if stored_source not in (None, source):
            cur.execute(_DROP_OTHER_SOURCES, (symbol, timeframe.value, source))
            stored_first, stored_last, _ = cur.execute(
                _RECOUNT_SERIES,
                {"symbol": symbol, "timeframe": timeframe.value, "source": source},
            ).fetchone() or (None, None, None)
        new, known = _split_by_range(unique.values(), stored_first, stored_last)
        written, delta = 0, _Delta()
        if new:
            try:
                with conn.transaction():  # a savepoint: a conflict undoes this COPY only
                    _copy(cur, partition(timeframe), symbol, timeframe, new)
                written, delta = len(new), _Delta.of_new(new)
            except UniqueViolation:
                # A stored bar outside the counted range: series_stats disagrees with
                # the bars (`make stats-check` reports it). Merge them all instead.
                known = list(unique.values())
        if known:
            merged, merged_delta = _merge(cur, symbol, timeframe, known)
            written, delta = written + merged, delta + merged_delta
        if written:
            cur.execute(
                _APPLY_STATS_DELTA,
                {"symbol": symbol, "timeframe": timeframe.value, "records": delta.records,
                 "validated": delta.validated, "gaps": delta.gaps, "first": delta.first,
                 "last": delta.last, "source": source},
            )  # fmt: skip
    return written


def _split_by_range(
    items: Iterable[StoredBar], first: datetime | None, last: datetime | None
) -> tuple[list[StoredBar], list[StoredBar]]:
    """(bars outside the stored range [first, last], bars inside it)."""
    if first is None or last is None:
        return list(items), []
    new: list[StoredBar] = []
    known: list[StoredBar] = []
    for item in items:
        (known if first <= item.bar.time <= last else new).append(item)
    return new, known


def _copy(
    cur: Cursor[Any], table: sql.Identifier, symbol: str, timeframe: Timeframe,
    items: Iterable[StoredBar],
) -> None:  # fmt: skip
    with cur.copy(
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, _COLUMNS)
    ) as copy:
        copy.set_types(COPY_TYPES)
        for item in items:
            copy.write_row(_copy_row(symbol, timeframe.value, item))


def _merge(
    cur: Cursor[Any], symbol: str, timeframe: Timeframe, items: Sequence[StoredBar]
) -> tuple[int, _Delta]:
    """Stage bars that may replace stored ones and upsert them: (rows written, delta)."""
    cur.execute(_STAGE_DDL)
    _copy(cur, sql.Identifier("bars_stage"), symbol, timeframe, items)
    target = partition(timeframe)
    row = cur.execute(_STATS_DELTA.format(partition=target)).fetchone()
    delta = _Delta(*row) if row else _Delta()
    cur.execute(_UPSERT.format(partition=target, **_UPSERT_PARTS))
    return cur.rowcount, delta


def detach_year(conn: Connection[Any], timeframe: Timeframe, year: int) -> str:
    """Detach one intraday year from `bars` (to archive in the lake, or drop) and count
    again the series it held; returns the detached table's name. Needs the owner's
    rights (DDL): an operator's step, not the application's."""
    name = f"bars_{timeframe.value}_{year}"
    table = sql.Identifier(name)
    with conn.transaction():
        held = conn.execute(sql.SQL("SELECT DISTINCT symbol FROM {}").format(table)).fetchall()
        conn.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(partition(timeframe), table)
        )
        for (symbol,) in held:
            conn.execute(
                _RECOUNT_SERIES, {"symbol": symbol, "timeframe": timeframe.value, "source": None}
            )
    return name


# The adjusted views, computed in SQL from the raw page and the symbol's actions.
# The page's bars (by New York session date) and the actions go into one stream,
# newest first; a bar's factors are the running product of the actions before it
# in that order - exactly the actions after its session (on the same day the bar
# comes first: an action applies to earlier sessions only). One sort of a few
# thousand rows, no per-bar lookups. Bars in the series' vendor-adjusted range
# (stored before raw storage) are already split-adjusted and keep factor 1.
# A symbol without actions in the view (most of them, and every default page of
# one that never split) has every factor 1: its page is the raw one, so that
# branch is taken instead and the pricing never runs (EXISTS is evaluated once,
# and the branch it rules out is not executed); Merge Append keeps the raw
# branch in index order. It was about twice the raw statement's time per page.
def action_factors(symbol: str) -> str:
    """SQL: a symbol's corporate actions as (day, split, dividend) price factors, the
    dividend's from the close of the session before its ex-date (`symbol`: the SQL
    naming the symbol, a parameter or an outer column); one definition for every read."""
    return f"""
    SELECT execution_date AS day, split_to / split_from AS split, 1.0::float8 AS dividend
    FROM splits WHERE symbol = {symbol} AND %(use_splits)s
    UNION ALL
    SELECT d.ex_dividend_date, 1.0, 1.0 - d.cash_amount / prior.close
    FROM dividends d
    CROSS JOIN LATERAL (
        SELECT close FROM bars
        WHERE symbol = d.symbol AND timeframe = '1d'
          AND time < d.ex_dividend_date::timestamp AT TIME ZONE 'America/New_York'
        ORDER BY time DESC LIMIT 1
    ) prior
    WHERE d.symbol = {symbol} AND %(use_dividends)s AND d.cash_amount < prior.close
    """


_ADJUSTED = (
    """
WITH page AS ({page}),
actions AS ("""
    + action_factors("%(symbol)s")
    + """),
stream AS (
    SELECT (time AT TIME ZONE 'America/New_York')::date AS day, 0 AS kind, time,
           1.0::float8 AS split, 1.0::float8 AS dividend
    FROM page
    UNION ALL
    SELECT day, 1, NULL, split, dividend FROM actions
),
factors AS (
    SELECT time, adjustment_product(split) OVER newest_first AS split,
           adjustment_product(dividend) OVER newest_first AS dividend, kind
    FROM stream
    WINDOW newest_first AS (ORDER BY day DESC, kind ROWS UNBOUNDED PRECEDING)
),
legacy AS (
    SELECT vendor_adjusted_from AS since, vendor_adjusted_until AS until FROM series_stats
    WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s
      AND vendor_adjusted_from IS NOT NULL
),
priced AS (
    SELECT p.*,
           CASE WHEN l.since IS NOT NULL THEN 1.0 ELSE f.dividend / f.split END AS price,
           CASE WHEN l.since IS NOT NULL THEN 1.0 ELSE f.split END AS shares
    FROM page p
    JOIN factors f ON f.kind = 0 AND f.time = p.time
    LEFT JOIN legacy l ON p.time >= l.since AND p.time < l.until
)
(SELECT {columns} FROM ({page}) raw WHERE NOT EXISTS (SELECT FROM actions))
UNION ALL
(SELECT time, open * price, high * price, low * price, close * price, volume * shares,
        vwap * price, {rest}
 FROM priced WHERE EXISTS (SELECT FROM actions)
 ORDER BY time {direction})
ORDER BY time {direction}
"""
)


def read_bar_page(conn: Connection[Any], query: BarPageQuery) -> Sequence[tuple[Any, ...]]:
    """Up to limit + 1 rows (the extra one tells the caller another page exists),
    in the query's adjustment: the raw page, priced by the symbol's actions in SQL."""
    statement = _page_sql(
        adjusted=query.adjustment is not Adjustment.RAW,
        validated_only=query.validated_only,
        min_quality=query.min_quality > 0,
        after=query.after is not None,
        descending=query.descending,
    )
    params = {
        "symbol": query.symbol,
        "timeframe": query.timeframe.value,
        "start": query.start,
        "end": query.end,
        "min_quality": query.min_quality,
        "after": query.after,
        "limit": query.limit + 1,
        "use_splits": query.adjustment.splits,
        "use_dividends": query.adjustment.dividends,
    }
    return conn.execute(statement, params).fetchall()


@functools.cache
def _page_sql(
    *, adjusted: bool, validated_only: bool, min_quality: bool, after: bool, descending: bool
) -> str:
    """The page statement of one shape (32 at most), composed once: composing the
    adjusted statement was ~0.1 ms of every request, a tenth of a small page."""
    conditions = [sql.SQL("symbol = %(symbol)s AND timeframe = %(timeframe)s"),
                  sql.SQL("time >= %(start)s AND time < %(end)s")]  # fmt: skip
    if validated_only:
        conditions.append(sql.SQL("validated"))
    if min_quality:
        conditions.append(sql.SQL("quality_score >= %(min_quality)s"))
    if after:
        conditions.append(sql.SQL("time < %(after)s" if descending else "time > %(after)s"))
    direction = sql.SQL("DESC" if descending else "ASC")
    columns = sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS))
    statement = sql.SQL("SELECT {columns} FROM bars WHERE {where} ORDER BY time {direction} "
                        "LIMIT %(limit)s").format(
        columns=columns, where=sql.SQL(" AND ").join(conditions), direction=direction
    )  # fmt: skip
    if adjusted:
        statement = sql.SQL(_ADJUSTED).format(
            page=statement,
            columns=columns,
            rest=sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS[7:])),
            direction=direction,
        )
    # Identifiers and keywords only (no values), so no connection is needed to render it.
    return statement.as_string(None)
