"""Storage: bytes per bar of the partitioned layout against the layout before it, and the
in-place migration between them, on the same rows in the same run.

A warehouse at the schema before partitioning (migrations up to 0006) is filled
with `rows` one-minute bars (200 series, the read table's shape); its size is
the reference. Then the remaining migrations run as a deploy runs them: 0007
renames the table and the rows move into the partitions in batches
(market_data.migrations.move_legacy_bars). Size is heap + indexes
(pg_total_relation_size over every leaf partition) / rows.
"""

from __future__ import annotations

import time

import psycopg
from psycopg.conninfo import make_conninfo

from bench.readpath import MINUTES_FROM, insert_minute_bars
from bench.stats import Row
from market_data.migrations import LEGACY_BATCH_ROWS, apply_migrations

DATABASE = "mdw_bench_storage"
SERIES = 200

_TOTAL_SIZE = """
SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(%s) WHERE isleaf
"""


def _old_warehouse(url: str, rows: int) -> float:
    """Bytes per bar of the old layout, filled in key order (its best case)."""
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn, until="0006_series_source")
        insert_minute_bars(conn, SERIES, rows // SERIES, MINUTES_FROM)
        conn.execute("VACUUM ANALYZE bars")
        size = conn.execute("SELECT pg_total_relation_size('bars')").fetchone()
        return float(size[0]) / rows if size else 0.0


def run(server_url: str, rows: int) -> list[Row]:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = make_conninfo(server_url, dbname=DATABASE)
    rows = rows // SERIES * SERIES
    old = _old_warehouse(url, rows)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        apply_migrations(conn)
        seconds = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE bars")
        (moved,) = conn.execute("SELECT count(*) FROM bars").fetchone() or (0,)
        size = conn.execute(_TOTAL_SIZE, ("bars",)).fetchone()
        new = float(size[0]) / rows if size and size[0] else 0.0
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    if moved != rows:
        raise RuntimeError(f"the migration moved {moved:,} of {rows:,} bars")
    return [
        Row.judged(
            "storage",
            f"bytes per bar, {rows:,} one-minute bars (heap + primary key): "
            "partitioned layout vs the layout before it",
            new, old, "B", "<= 0.75x (-25 %)", new <= 0.75 * old, "{:.1f}",
        ),
        Row(
            "storage",
            f"in-place migration of {rows:,} bars in batches of {LEGACY_BATCH_ROWS:,} "
            "(apply_migrations on the old schema)",
            f"{seconds:.1f} s",
            f"{rows / seconds:,.0f} bars/s",
            "",
            "reported, no goal",
            "-",
        ),
    ]  # fmt: skip
