"""Tracked symbols and the per-series statistics the write path maintains."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from market_data.models import SeriesStats, SymbolOverview, TrackedSymbol
from market_data.symbols import AssetClass
from market_data.timeframes import DEFAULT_TIMEFRAMES, Timeframe

_SYMBOL_COLUMNS = "symbol, asset_class, name, active, timeframes, created_at, updated_at"


def _tracked(row: dict[str, Any]) -> TrackedSymbol:
    return TrackedSymbol(
        symbol=row["symbol"],
        asset_class=AssetClass(row["asset_class"]),
        name=row["name"],
        active=row["active"],
        timeframes=tuple(Timeframe(t) for t in row["timeframes"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get_symbol(conn: Connection[Any], symbol: str) -> TrackedSymbol | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_SYMBOL_COLUMNS} FROM symbols WHERE symbol = %s", (symbol,)
        ).fetchone()
    return _tracked(row) if row else None


def list_symbols(conn: Connection[Any], *, active_only: bool = True) -> list[TrackedSymbol]:
    where = "WHERE active" if active_only else ""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_SYMBOL_COLUMNS} FROM symbols {where} ORDER BY symbol")
        return [_tracked(row) for row in rows]


def add_symbols(
    conn: Connection[Any],
    symbols: Iterable[tuple[str, AssetClass]],
    timeframes: Sequence[Timeframe] = DEFAULT_TIMEFRAMES,
) -> int:
    """Track symbols that are not tracked yet; returns how many were added."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO symbols (symbol, asset_class, timeframes) VALUES (%s, %s, %s) "
            "ON CONFLICT (symbol) DO NOTHING",
            [(s, a.value, [t.value for t in timeframes]) for s, a in symbols],
        )
        return cur.rowcount


def list_series_stats(conn: Connection[Any]) -> list[SeriesStats]:
    rows = conn.execute(
        "SELECT symbol, timeframe, records, validated_records, gap_records, first_time, last_time,"
        " vendor_adjusted_from, vendor_adjusted_until, source FROM series_stats"
        " ORDER BY symbol, timeframe"
    ).fetchall()
    return [SeriesStats(r[0], Timeframe(r[1]), *r[2:]) for r in rows]


def newest_bar_sources(conn: Connection[Any]) -> list[str]:
    """Where the newest bar of each series came from ("synthetic", "polygon"), distinct.

    One primary-key lookup per series (LATERAL keeps it a nested loop over
    series_stats), so the status page never scans the bars.
    """
    rows = conn.execute(
        "SELECT DISTINCT b.source FROM series_stats s CROSS JOIN LATERAL ("
        " SELECT source FROM bars WHERE symbol = s.symbol AND timeframe = s.timeframe"
        " AND time = s.last_time) b ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def list_overviews(conn: Connection[Any], *, active_only: bool = True) -> list[SymbolOverview]:
    """Every tracked symbol with its series statistics (two queries, no per-symbol I/O)."""
    series: dict[str, list[SeriesStats]] = defaultdict(list)
    for stats in list_series_stats(conn):
        series[stats.symbol].append(stats)
    return [
        SymbolOverview(tracked, tuple(series.get(tracked.symbol, ())))
        for tracked in list_symbols(conn, active_only=active_only)
    ]


def create_symbol(
    conn: Connection[Any],
    symbol: str,
    asset_class: AssetClass,
    timeframes: Sequence[Timeframe] = DEFAULT_TIMEFRAMES,
    name: str | None = None,
) -> TrackedSymbol | None:
    """Track one new symbol; None when it is already tracked (active or not)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO symbols (symbol, asset_class, name, timeframes) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (symbol) DO NOTHING RETURNING {_SYMBOL_COLUMNS}",
            (symbol, asset_class.value, name, [t.value for t in timeframes]),
        ).fetchone()
    return _tracked(row) if row else None


def update_symbol(
    conn: Connection[Any],
    symbol: str,
    *,
    active: bool | None = None,
    name: str | None = None,
    clear_name: bool = False,
    timeframes: Sequence[Timeframe] | None = None,
) -> TrackedSymbol | None:
    """Change what is given (None leaves a column alone); None when the symbol is unknown.

    One static statement whatever changes, so no SQL is ever assembled from input.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "UPDATE symbols SET"
            " active = COALESCE(%(active)s::boolean, active),"
            " name = CASE WHEN %(clear_name)s THEN NULL ELSE COALESCE(%(name)s::text, name) END,"
            " timeframes = COALESCE(%(timeframes)s::text[], timeframes),"
            " updated_at = now()"
            f" WHERE symbol = %(symbol)s RETURNING {_SYMBOL_COLUMNS}",
            {
                "symbol": symbol,
                "active": active,
                "name": name,
                "clear_name": clear_name,
                "timeframes": None if timeframes is None else [t.value for t in timeframes],
            },
        ).fetchone()
    return _tracked(row) if row else None


def get_overview(conn: Connection[Any], symbol: str) -> SymbolOverview | None:
    """One tracked symbol with its series statistics."""
    tracked = get_symbol(conn, symbol)
    if tracked is None:
        return None
    rows = conn.execute(
        "SELECT symbol, timeframe, records, validated_records, gap_records, first_time, last_time,"
        " vendor_adjusted_from, vendor_adjusted_until, source FROM series_stats WHERE symbol = %s"
        " ORDER BY timeframe",
        (symbol,),
    ).fetchall()
    return SymbolOverview(tracked, tuple(SeriesStats(r[0], Timeframe(r[1]), *r[2:]) for r in rows))


def vendor_adjusted_range(
    conn: Connection[Any], symbol: str, timeframe: Timeframe
) -> tuple[datetime, datetime] | None:
    """The series' bars still stored vendor-adjusted, [from, until), if any."""
    row = conn.execute(
        "SELECT vendor_adjusted_from, vendor_adjusted_until FROM series_stats"
        " WHERE symbol = %s AND timeframe = %s AND vendor_adjusted_from IS NOT NULL",
        (symbol, timeframe.value),
    ).fetchone()
    return (row[0], row[1]) if row else None
