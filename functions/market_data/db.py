"""PostgreSQL connections: one small pool per process, opened on first use.

Lambda reuses the process between invocations, so the pool (and its open
connections) outlives a request; it is created lazily so that importing a
handler never waits for the network.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from psycopg import Connection
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from market_data.settings import Settings

_pool: ConnectionPool[Connection[Any]] | None = None
_pool_lock = threading.Lock()


def conninfo(settings: Settings) -> str:
    """Connection string from DATABASE_URL, or from the Secrets Manager secret in AWS."""
    options = f"-c statement_timeout={settings.db_statement_timeout_ms} -c TimeZone=UTC"
    if settings.database_url:
        return make_conninfo(
            settings.database_url,
            connect_timeout=max(1, int(settings.db_connect_timeout_s)),
            options=options,
        )
    # Imported here: only the AWS path needs it, and it is not free at cold start.
    from aws_lambda_powertools.utilities.parameters import get_secret

    secret = json.loads(str(get_secret(str(settings.db_secret_arn), max_age=300)))
    return make_conninfo(
        host=settings.db_host,
        port=settings.db_port,
        dbname=settings.db_name,
        user=secret["username"],
        password=secret["password"],
        sslmode="require",
        connect_timeout=max(1, int(settings.db_connect_timeout_s)),
        options=options,
    )


def create_pool(
    settings: Settings, *, max_size: int | None = None
) -> ConnectionPool[Connection[Any]]:
    pool: ConnectionPool[Connection[Any]] = ConnectionPool(
        conninfo(settings),
        min_size=1,
        max_size=max_size or settings.db_pool_max_size,
        open=False,
        # A connection broken by a database restart is replaced, not handed out.
        check=ConnectionPool.check_connection,
        timeout=settings.db_connect_timeout_s,
        reconnect_timeout=0,
        kwargs={"autocommit": True},
        name="market-data",
    )
    pool.open(wait=False)
    return pool


def get_pool(settings: Settings) -> ConnectionPool[Connection[Any]]:
    """The process-wide pool, created on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = create_pool(settings)
        return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
