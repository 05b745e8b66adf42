"""`make bench-scale`: the warehouse at 10 million and at 100 million bars (not in CI).

One database, grown in two steps: 1,000 one-minute series (plus a 10-year
daily series), first 10 million bars, all in 2024, then 100 million: ten times
the history, back to 2015, ten year partitions of `bars_1m`, the same hot 2024
partition (bars every 52.7 minutes, so one year holds 10,000 of a series). At
each size: p50/p99 of a 252-bar daily page and a 5,000-bar intraday page
(`read_bar_page`, the API's statement, on series spread over the table), the
nightly 390-bar increment (`upsert_bars`) into ten series, bytes per bar, and
`VACUUM ANALYZE` of the hot partition (the current year). Goal: every time at
100 M within 1.3 x its value at 10 M. Prints its table; the database is
dropped at the end (and at the start, if a run was interrupted).

    python -m bench.scale [--rows 100000000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from bench.__main__ import ROOT, database, machine, table
from bench.readpath import count_series_stats, insert_daily_bars, insert_minute_bars
from bench.stats import Row, measure
from market_data.migrations import apply_migrations
from market_data.models import Assessment, BarPageQuery, RawBar, StoredBar
from market_data.repositories.bars import read_bar_page, upsert_bars
from market_data.timeframes import Timeframe

DATABASE = "mdw_bench_scale"
SERIES = 1000
END = datetime(2025, 1, 1, tzinfo=UTC)  # the last bar is just before; the nightly goes after
STEP = timedelta(days=366) / 10_000  # 2024's 366 days hold 10,000 bars of a series
BYTES_PER_BAR = 170  # measured by make bench's storage row, with room for the load's WAL
DAILY = "SCALED"


def _grow(conn: psycopg.Connection[Any], per_series: int) -> None:
    """Every series `per_series` bars long, ending at END: longer history, same last year."""
    start = END - STEP * per_series
    conn.execute("SELECT ensure_bar_partitions('1m', %s, %s)", (start, END - STEP))
    # Rewritten at the new length, the key built after the load (minutes faster than
    # inserting through it).
    conn.execute("ALTER TABLE bars_1m DROP CONSTRAINT IF EXISTS bars_1m_pkey")
    conn.execute("TRUNCATE bars_1m")
    insert_minute_bars(conn, SERIES, per_series, start, STEP)
    conn.execute("ALTER TABLE bars_1m ADD PRIMARY KEY (symbol, time) WITH (fillfactor = 100)")
    count_series_stats(conn)
    conn.execute("VACUUM ANALYZE bars")


def _pages(conn: psycopg.Connection[Any], runs: int, per_series: int) -> dict[str, Any]:
    rng = random.Random(7)
    daily = BarPageQuery(DAILY, Timeframe.D1, datetime(2020, 1, 1, tzinfo=UTC),
                         datetime(2020, 9, 9, tzinfo=UTC), True, 0.85, 252)  # fmt: skip

    page = min(5_000, per_series // 2)  # smaller only in a trial run (--rows below 10 M)

    def intraday() -> BarPageQuery:
        # A random series and a random window of `page` of its bars.
        first = END - STEP * per_series + STEP * rng.randrange(per_series - page)
        symbol = f"S{rng.randrange(1, SERIES + 1):04d}"
        return BarPageQuery(symbol, Timeframe.M1, first, first + STEP * page, True, 0.85, page)

    assert len(read_bar_page(conn, daily)) == 252
    assert len(read_bar_page(conn, intraday())) == page
    return {
        "252-bar daily page": measure(lambda: read_bar_page(conn, daily), runs),
        "5,000-bar intraday page": measure(lambda: read_bar_page(conn, intraday()), runs),
    }


def _nightly(conn: psycopg.Connection[Any], rounds: int) -> float:
    """Seconds per 390-bar increment after the last bar of a series (median over series)."""
    times = []
    for i in range(rounds):
        symbol = f"S{1 + i * (SERIES // rounds):04d}"
        last = conn.execute(
            "SELECT last_time FROM series_stats WHERE symbol = %s AND timeframe = '1m'", (symbol,)
        ).fetchone()
        assert last is not None
        bars = [
            StoredBar(RawBar(last[0] + timedelta(minutes=k + 1), 10, 11, 9, 10.5, 100, 10.2, 3),
                      "polygon", Assessment(), datetime.now(UTC))
            for k in range(390)
        ]  # fmt: skip
        started = time.perf_counter()
        upsert_bars(conn, symbol, Timeframe.M1, bars)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def _snapshot(conn: psycopg.Connection[Any], runs: int, per_series: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, timing in _pages(conn, runs, per_series).items():
        figures[f"{name} p50"] = timing.p50 * 1000
        figures[f"{name} p99"] = timing.p99 * 1000
    figures["nightly 390-bar increment"] = _nightly(conn, 10) * 1000
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE bars_1m_2024")
    figures["VACUUM ANALYZE of the hot partition (2024)"] = (time.perf_counter() - started) * 1000
    rows = conn.execute("SELECT count(*) FROM bars").fetchone()
    size = conn.execute(
        "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('bars') WHERE isleaf"
    ).fetchone()
    figures["bytes per bar"] = float(size[0]) / rows[0] if size and rows else 0.0
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000, help="bars at the large size")
    parser.add_argument("--runs", type=int, default=200, help="timed reads per page figure")
    args = parser.parse_args()
    small, large = args.rows // 10 // SERIES, args.rows // SERIES
    data_dir = ROOT / ".local" / "bench-pgdata"
    need = args.rows * BYTES_PER_BAR * 2  # the table, and as much again for WAL and the key build
    free = shutil.disk_usage(data_dir.parent if data_dir.exists() else ROOT).free
    print(f"needs about {need / 1e9:.0f} GB of disk in {data_dir} ({free / 1e9:.0f} GB free)")
    if free < need:
        print("not enough disk: stopping before anything is written")
        return 1
    started = time.monotonic()
    server_url, _ = database(data_dir)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = make_conninfo(server_url, dbname=DATABASE)
    results: dict[str, dict[str, float]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            apply_migrations(conn)
            insert_daily_bars(conn, DAILY, datetime(2015, 1, 2, 5, tzinfo=UTC), 3651)
            for label, per_series in (("10 M", small), ("100 M", large)):
                print(f"loading {per_series * SERIES:,} one-minute bars ...", flush=True)
                load_started = time.monotonic()
                _grow(conn, per_series)
                print(f"  loaded in {time.monotonic() - load_started:.0f}s; measuring ...")
                results[label] = _snapshot(conn, args.runs, per_series)
            plan = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM bars WHERE symbol = 'S0500'"
                " AND timeframe = '1m' AND time >= '2022-03-01' AND time < '2022-06-05'"
                " AND validated AND quality_score >= 0.85 ORDER BY time LIMIT 5001"
            ).fetchall()
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    rows = []
    for measure_name, value in results["100 M"].items():
        before = results["10 M"][measure_name]
        unit = "B" if measure_name == "bytes per bar" else "ms"
        timed = unit == "ms"
        rows.append(
            Row.judged(
                "scale",
                f"{measure_name}: 100 M bars vs 10 M",
                value,
                before,
                unit,
                "<= 1.3x" if timed else "reported",
                value <= 1.3 * before or not timed,
            )
        )
    print(f"\nMeasured on {machine()}\n\n{table(rows)}\n")
    print("5,000-bar page at 100 M bars, plan:\n" + "\n".join("    " + r[0] for r in plan))
    print(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
