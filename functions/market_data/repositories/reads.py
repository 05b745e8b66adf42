"""Reads across many symbols: multi-symbol pages, multiples aggregated in SQL, the
latest bar of each series, and the bar times a gap report compares with the calendar.

Every read prices bars in the requested adjustment with the same rule as the
single-symbol page (repositories/bars.py): a bar's factors are the products of
the symbol's actions dated after its New York session. Here each symbol's
actions become, once per symbol, an ascending array of dates with the products
of the factors from each date on; a bar's factors are the element
width_bucket(its session date) + 1 (1.0 past the last action). That keeps each
symbol's read a plain index range scan that stops at the page limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from market_data import reads
from market_data.calendar import MarketCalendar
from market_data.corporate_actions import Adjustment
from market_data.models import BAR_COLUMNS, SeriesStats, TrackedSymbol
from market_data.reads import MultiBarQuery, ReadPlan, SeriesRead, SymbolFacts
from market_data.repositories.bars import action_factors
from market_data.repositories.symbols import _SYMBOL_COLUMNS, _tracked
from market_data.timeframes import Timeframe

# One row per series read, in symbol order (the outer loop of the keyset read).
_SERIES = """
SELECT * FROM unnest(%(symbols)s::text[], %(sources)s::text[], %(crypto)s::bool[],
                     %(lo)s::timestamptz[], %(hi)s::timestamptz[], %(parts)s::interval[])
         AS t(symbol, source, crypto, lo, hi, part)
ORDER BY symbol
"""

# Per symbol: its action dates ascending and, for each, the product of the factors
# of the actions on or after it (RANGE: same-day actions share one product).
_FACTORS = (
    """
SELECT coalesce(array_agg(day ORDER BY day), '{}'::date[]) AS days,
       coalesce(array_agg(split ORDER BY day), '{}'::float8[]) || 1.0::float8 AS splits,
       coalesce(array_agg(dividend ORDER BY day), '{}'::float8[]) || 1.0::float8 AS dividends
FROM (
    SELECT day, adjustment_product(split) OVER later AS split,
           adjustment_product(dividend) OVER later AS dividend
    FROM ("""
    + action_factors("s.symbol")
    + """) actions
    WINDOW later AS (ORDER BY day DESC RANGE UNBOUNDED PRECEDING)
) products
"""
)

# The raw view prices nothing: no actions to read, no vendor-adjusted range to skip.
_NO_FACTORS = """
SELECT '{}'::date[] AS days, '{1}'::float8[] AS splits, '{1}'::float8[] AS dividends
"""
_NO_LEGACY = "SELECT NULL::timestamptz AS since, NULL::timestamptz AS until"

# The series' range still stored vendor-adjusted (served as stored: factor 1).
_LEGACY = """
SELECT vendor_adjusted_from AS since, vendor_adjusted_until AS until FROM series_stats
WHERE symbol = s.symbol AND timeframe = s.source AND vendor_adjusted_from IS NOT NULL
"""

# The parts in the requested view, as the bar columns (priced and scaled) and
# nothing else: a multiple's sort carries no more than the bars' own width.
_PRICED_PARTS = """
SELECT time, open * price AS open, high * price AS high, low * price AS low,
       close * price AS close, volume * shares AS volume, vwap * price AS vwap, {rest}
FROM (
    SELECT b.*,
           CASE WHEN b.time >= l.since AND b.time < l.until THEN 1.0
                ELSE f.dividends[b.k] / f.splits[b.k] END AS price,
           CASE WHEN b.time >= l.since AND b.time < l.until THEN 1.0 ELSE f.splits[b.k] END
               AS shares
    FROM (
        SELECT {columns},
               CASE WHEN cardinality(f.days) = 0 THEN 1  -- no actions: skip the session date
                    ELSE width_bucket((time AT TIME ZONE 'America/New_York')::date, f.days) + 1
               END AS k
        FROM bars
        WHERE symbol = s.symbol AND timeframe = s.source AND time >= s.lo AND time < s.hi {where}
        {order}
    ) b
) priced
"""

# One ordering for every order-dependent aggregate (the parts arrive sorted by bucket
# and time, so PostgreSQL sorts once). Sources and notes are deduplicated only in the
# buckets that mix several: a DISTINCT aggregate would sort every bucket's parts again.
_AGGREGATES = """
(array_agg(open ORDER BY time))[1], max(high), min(low),
(array_agg(close ORDER BY time))[count(*)], sum(volume),
sum(vwap * volume) FILTER (WHERE vwap IS NOT NULL)
    / nullif(sum(volume) FILTER (WHERE vwap IS NOT NULL), 0),
sum(trades)::int8,
CASE WHEN min(source) = max(source) THEN min(source)::text
     ELSE array_to_string(ARRAY(SELECT DISTINCT x::text FROM unnest(array_agg(source)) x
                                ORDER BY 1), ',') END,
bool_and(validated), min(quality_score),
CASE WHEN max(validation_notes) IS NULL OR min(validation_notes) = max(validation_notes)
     THEN max(validation_notes)
     ELSE array_to_string(ARRAY(SELECT DISTINCT x FROM unnest(array_agg(validation_notes)) x
                                WHERE x IS NOT NULL ORDER BY 1), '; ') END,
bool_or(gap_detected), bool_or(volume_anomaly), max(fetched_at), count(*)
"""

_PAGE = """
SELECT s.symbol, page.*
FROM ({series}) s
CROSS JOIN LATERAL ({factors}) f
LEFT JOIN LATERAL ({legacy}) l ON true
CROSS JOIN LATERAL ({body}) page
ORDER BY s.symbol, page.time {direction}
LIMIT %(limit)s
"""


def _conditions(query: MultiBarQuery, plan: ReadPlan) -> list[sql.Composable]:
    where: list[sql.Composable] = []
    if query.validated_only:
        where.append(sql.SQL("validated"))
    if query.min_quality > 0:
        where.append(sql.SQL("quality_score >= %(min_quality)s"))
    if plan.session_windows is not None:
        # Inside one session window: the last open at or before the bar, and its close.
        where.append(
            sql.SQL(
                "(s.crypto OR (width_bucket(time, %(opens)s::timestamptz[]) > 0 AND time + s.part"
                " <= (%(closes)s::timestamptz[])[width_bucket(time, %(opens)s::timestamptz[])]))"
            )
        )
    if query.after is not None:
        compare = "<" if query.descending else ">"
        where.append(
            sql.SQL("(s.symbol <> %(after_symbol)s OR time {} %(after_time)s)").format(
                sql.SQL(compare)
            )
        )
    return where


def _bucket(plan: ReadPlan) -> sql.Composable:
    if plan.equity_buckets is not None and plan.equity_buckets.step is not None:
        return sql.SQL("date_bin(%(step)s::interval, time, '1970-01-01T00:00:00Z'::timestamptz)")
    # The last bucket start at or before the part (crypto days begin at UTC midnight).
    pick = "(%({0})s::timestamptz[])[width_bucket(time, %({0})s::timestamptz[])]"
    return sql.SQL(
        f"CASE WHEN s.crypto THEN {pick.format('crypto_edges')} "
        f"ELSE {pick.format('equity_edges')} END"
    )


def _statement(query: MultiBarQuery, plan: ReadPlan) -> sql.Composed:
    direction = sql.SQL("DESC" if query.descending else "ASC")
    where = sql.SQL("").join(sql.SQL(" AND ") + c for c in _conditions(query, plan))
    columns = sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS))
    rest = sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS[7:]))
    if not plan.resampled:
        parts = sql.SQL(_PRICED_PARTS).format(
            columns=columns,
            rest=rest,
            where=where,
            order=sql.SQL("ORDER BY time {} LIMIT %(limit)s").format(direction),
        )
        body = sql.SQL("SELECT * FROM ({parts}) p ORDER BY time {direction}").format(
            parts=parts, direction=direction
        )
    else:
        parts = sql.SQL(_PRICED_PARTS).format(
            columns=columns, rest=rest, where=where, order=sql.SQL("")
        )
        bucket = _bucket(plan)
        # Ascending pages read parts after the cursor's bar time: the parts of that
        # bar's bucket that follow it form no new bar, so buckets up to it are dropped.
        having: sql.Composable = sql.SQL("")
        if query.after is not None and not query.descending:
            having = sql.SQL("HAVING s.symbol <> %(after_symbol)s OR {} > %(after_time)s").format(
                bucket
            )
        body = sql.SQL(
            "SELECT {bucket} AS time, {aggregates} FROM ({parts}) p GROUP BY 1 {having}"
            " ORDER BY 1 {direction} LIMIT %(limit)s"
        ).format(
            bucket=bucket,
            aggregates=sql.SQL(_AGGREGATES),
            parts=parts,
            having=having,
            direction=direction,
        )
    raw = query.adjustment is Adjustment.RAW
    return sql.SQL(_PAGE).format(
        series=sql.SQL(_SERIES),
        factors=sql.SQL(_NO_FACTORS if raw else _FACTORS),
        legacy=sql.SQL(_NO_LEGACY if raw else _LEGACY),
        body=body,
        direction=direction,
    )


def _series_params(reads: Sequence[SeriesRead]) -> dict[str, Any]:
    return {
        "symbols": [r.symbol for r in reads],
        "sources": [r.source.value for r in reads],
        "crypto": [r.around_the_clock for r in reads],
        "lo": [r.start for r in reads],
        "hi": [r.end for r in reads],
        "parts": [r.source.duration for r in reads],
    }


def read_multi_page(
    conn: Connection[Any], query: MultiBarQuery, plan: ReadPlan, reads: Sequence[SeriesRead]
) -> list[tuple[Any, ...]]:
    """Up to limit + 1 rows (symbol, bar columns[, bars_in]) in (symbol, time) order."""
    windows, equity, crypto = plan.session_windows, plan.equity_buckets, plan.crypto_buckets
    params: dict[str, Any] = {
        **_series_params(reads),
        "limit": query.limit + 1,
        "min_quality": query.min_quality,
        "use_splits": query.adjustment.splits,
        "use_dividends": query.adjustment.dividends,
        "after_symbol": query.after[0] if query.after else None,
        "after_time": query.after[1] if query.after else None,
        "opens": list(windows.opens) if windows else None,
        "closes": list(windows.closes) if windows else None,
        "step": equity.step if equity else None,
        "equity_edges": list(equity.edges) if equity else None,
        "crypto_edges": list(crypto.edges) if crypto else None,
    }
    return conn.execute(_statement(query, plan), params).fetchall()


# Each symbol's latest bar in one statement: the symbols (the asked ones, or every
# active one), their series statistics of the timeframe (with the range stored
# vendor-adjusted, which latest.page_body judges), and one primary-key probe at
# last_time, priced like any page. A symbol without the series has NULL columns.
_LATEST = """
SELECT s.symbol, s.asset_class, s.vendor_adjusted_from, s.vendor_adjusted_until, page.*
FROM (
    SELECT sy.symbol, sy.asset_class, %(timeframe)s::text AS source,
           st.vendor_adjusted_from, st.vendor_adjusted_until,
           st.last_time AS lo, st.last_time + interval '1 microsecond' AS hi
    FROM symbols sy
    LEFT JOIN series_stats st ON st.symbol = sy.symbol AND st.timeframe = %(timeframe)s
    WHERE {which}
) s
CROSS JOIN LATERAL ({factors}) f
LEFT JOIN LATERAL ({legacy}) l ON true
LEFT JOIN LATERAL ({parts}) page ON true
ORDER BY s.symbol
"""


def read_latest(
    conn: Connection[Any],
    symbols: Sequence[str] | None,
    timeframe: Timeframe,
    adjustment: Adjustment,
) -> list[tuple[Any, ...]]:
    """(symbol, asset_class, vendor_adjusted_from, vendor_adjusted_until, bar columns...)
    of each tracked symbol among `symbols` (None: every active one); the bar columns are
    NULL when it has no bar of the timeframe."""
    raw = adjustment is Adjustment.RAW
    statement = sql.SQL(_LATEST).format(
        which=sql.SQL("sy.active" if symbols is None else "sy.symbol = ANY(%(symbols)s)"),
        factors=sql.SQL(_NO_FACTORS if raw else _FACTORS),
        legacy=sql.SQL(_NO_LEGACY if raw else _LEGACY),
        parts=sql.SQL(_PRICED_PARTS).format(
            columns=sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS)),
            rest=sql.SQL(", ").join(map(sql.Identifier, BAR_COLUMNS[7:])),
            where=sql.SQL(""),
            order=sql.SQL(""),
        ),
    )
    params = {
        "timeframe": timeframe.value,
        "symbols": list(symbols or ()),
        "use_splits": adjustment.splits,
        "use_dividends": adjustment.dividends,
    }
    return conn.execute(statement, params).fetchall()


def read_page(
    conn: Connection[Any], query: MultiBarQuery, calendar: MarketCalendar
) -> tuple[ReadPlan, list[tuple[Any, ...]], str | None]:
    """One page of a read: its plan (missing symbols included), rows and next cursor."""
    plan = reads.plan_read(query, series_facts(conn, query.symbols), calendar)
    rows = read_multi_page(conn, query, plan, reads.reads_after(plan, query.after))
    if len(rows) <= query.limit:
        return plan, rows, None
    rows = rows[: query.limit]
    return plan, rows, reads.encode_cursor(query, rows[-1][0], rows[-1][1])


def series_facts(conn: Connection[Any], symbols: Sequence[str]) -> dict[str, SymbolFacts]:
    """The tracked symbols among `symbols` with their series statistics."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {_SYMBOL_COLUMNS} FROM symbols WHERE symbol = ANY(%s)", (list(symbols),)
        ).fetchall()
    tracked: dict[str, TrackedSymbol] = {row["symbol"]: _tracked(row) for row in rows}
    series: dict[str, dict[Timeframe, SeriesStats]] = defaultdict(dict)
    for r in conn.execute(
        "SELECT symbol, timeframe, records, validated_records, gap_records, first_time, last_time,"
        " vendor_adjusted_from, vendor_adjusted_until FROM series_stats WHERE symbol = ANY(%s)",
        (list(tracked),),
    ).fetchall():
        series[r[0]][Timeframe(r[1])] = SeriesStats(r[0], Timeframe(r[1]), *r[2:])
    return {s: SymbolFacts(t, series.get(s, {})) for s, t in sorted(tracked.items())}


def read_bar_times(
    conn: Connection[Any], symbol: str, timeframe: Timeframe, start: datetime, end: datetime
) -> list[tuple[datetime, bool, bool]]:
    """(time, validated, gap_detected) of every stored bar of the series in [start, end)."""
    rows = conn.execute(
        "SELECT time, validated, gap_detected FROM bars"
        " WHERE symbol = %s AND timeframe = %s AND time >= %s AND time < %s ORDER BY time",
        (symbol, timeframe.value, start, end),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]
