"""Ordered SQL migrations and the runner that applies them.

Safe to run twice and concurrently: a transaction-level advisory lock
serialises runners, and the schema_migrations table records what is applied
(with a checksum, so an edited migration is reported instead of ignored).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from psycopg import Connection, sql

_LOCK_ID = 0x6D6477  # "mdw": any constant shared by every runner


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


def apply_migrations(conn: Connection[Any]) -> list[str]:
    """Apply pending migrations in order; returns the versions applied now."""
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
    return applied_now


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
