"""Ordered SQL migrations and the runner that applies them.

Safe to run twice and concurrently: a transaction-level advisory lock
serialises runners, and the schema_migrations table records what is applied
(with a checksum, so an edited migration is reported instead of ignored).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from psycopg import Connection, sql

_LOCK_ID = 0x6D6477  # "mdw": any constant shared by every runner
LEGACY_BATCH_ROWS = 50_000

logger = logging.getLogger(__name__)


class MigrationChecksumError(RuntimeError):
    """An applied migration's file changed after it was applied."""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    folder = files(__name__)
    return sorted(
        (
            Migration(item.name.removesuffix(".sql"), item.read_text())
            for item in folder.iterdir()
            if item.name.endswith(".sql")
        ),
        key=lambda m: m.version,
    )


def apply_migrations(
    conn: Connection[Any], *, until: str | None = None, deadline: float | None = None
) -> list[str]:
    """Apply pending migrations in order, then move what a layout change left behind
    (move_legacy_bars, up to `deadline`); returns the versions applied now. `until`
    stops after that version (an older schema, for tests and benchmarks of a move).

    The connection must be in autocommit mode: each step commits on its own."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    text PRIMARY KEY,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in available_migrations():
            if until is not None and migration.version > until:
                break
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationChecksumError(f"migration {migration.version} was edited")
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                (migration.version, migration.checksum),
            )
            applied_now.append(migration.version)
    move_legacy_bars(conn, deadline=deadline)
    return applied_now


@dataclass(frozen=True, slots=True)
class LegacyMove:
    moved: int
    remaining: int  # bars still in the old table; 0 once it is gone


# One batch: up to LEGACY_BATCH_ROWS bars of one series, deleted from the old
# table and inserted here in one transaction. The batches walk the old primary
# key from where the previous one ended (not from the start, which would step
# over every deleted entry again). A bar the new code already wrote in the
# meantime wins (DO NOTHING): it is the newer fetch.
_NEXT_BAR = """
SELECT symbol, timeframe, time FROM bars_legacy
WHERE (symbol, timeframe, time) > (%(symbol)s, %(timeframe)s, %(time)s)
ORDER BY symbol, timeframe, time LIMIT 1
"""
_BATCH_END = """
SELECT max(time) FROM (
    SELECT time FROM bars_legacy
    WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND time >= %(time)s
    ORDER BY time LIMIT %(rows)s) b
"""
_BAR_COLUMNS = (
    "symbol, timeframe, time, open, high, low, close, volume, vwap, trades, source, validated,"
    " quality_score, validation_notes, gap_detected, volume_anomaly, fetched_at"
)
_BAR_VALUES = _BAR_COLUMNS.replace("source", "source::bar_source")
_MOVE_BATCH = f"""
WITH moved AS (
    DELETE FROM bars_legacy
    WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND time BETWEEN %(time)s AND %(last)s
    RETURNING *),
kept AS (
    INSERT INTO bars ({_BAR_COLUMNS}) SELECT {_BAR_VALUES} FROM moved
    ON CONFLICT DO NOTHING RETURNING 1)
SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM kept)
"""


def _value(conn: Connection[Any], query: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    return row[0] if row else None


def move_legacy_bars(
    conn: Connection[Any], *, batch_rows: int = LEGACY_BATCH_ROWS, deadline: float | None = None
) -> LegacyMove:
    """Move the bars of the pre-partitioning table (0007) into `bars`, in batches.

    Safe to stop and re-run at any point: each batch commits on its own, and what
    is left stays in `bars_legacy` for the next run (the migrate step of the next
    deploy, or make dev's next start). With `deadline` (time.monotonic()), it stops
    there and says how much is left. The old table is dropped once empty.
    """
    if _value(conn, "SELECT to_regclass('bars_legacy')") is None:
        return LegacyMove(0, 0)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        if _value(conn, "SELECT to_regclass('bars_legacy')") is None:
            return LegacyMove(0, 0)  # another runner finished it while this one waited
        remaining: int = _value(conn, "SELECT count(*) FROM bars_legacy")
        total, moved = remaining, 0
        after: dict[str, Any] = {"symbol": "", "timeframe": "", "time": "-infinity"}
        while remaining and (deadline is None or time.monotonic() < deadline):
            with conn.transaction():
                bar = conn.execute(_NEXT_BAR, after).fetchone()
                if bar is None:
                    break
                batch = dict(zip(("symbol", "timeframe", "time"), bar, strict=True))
                last = _value(conn, _BATCH_END, {**batch, "rows": batch_rows})
                conn.execute(
                    "SELECT ensure_bar_partitions(%s, %s, %s)", (batch["timeframe"], bar[2], last)
                )
                deleted, kept = conn.execute(_MOVE_BATCH, {**batch, "last": last}).fetchone()  # type: ignore[misc]
            after = {**batch, "time": last}
            remaining -= deleted
            moved += kept
            logger.info(
                "moving bars to the partitioned layout: %s of %s (%.1f %%)",
                f"{total - remaining:,}", f"{total:,}", 100 * (total - remaining) / total,
            )  # fmt: skip
        if _value(conn, "SELECT EXISTS (SELECT FROM bars_legacy)"):
            return LegacyMove(moved, remaining)
        conn.execute("DROP TABLE bars_legacy")
        return LegacyMove(moved, 0)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def ensure_app_role(conn: Connection[Any], role: str) -> None:
    """The least-privilege login the Lambdas use: data rights only, no DDL.

    On Aurora it authenticates with IAM tokens (rds_iam); the role name comes
    from trusted configuration, and is quoted as an identifier all the same.
    """
    ident = sql.Identifier(role)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone():
            conn.execute(sql.SQL("GRANT rds_iam TO {}").format(ident))
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
            "REVOKE ALL ON schema_migrations FROM {}",
        ):
            conn.execute(sql.SQL(statement).format(ident))
