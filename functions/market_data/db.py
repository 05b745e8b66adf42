"""PostgreSQL connections: one small pool per process, opened on first use.

Lambda reuses the process between invocations, so the pool (and its open
connections) outlives a request; it is created lazily so that importing a
handler never waits for the network.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from psycopg import Connection, Cursor
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from market_data import tracing
from market_data.settings import Settings

_pool: ConnectionPool[Connection[Any]] | None = None
_pool_lock = threading.Lock()

# A connection back in the pool for less than this is handed out again unchecked:
# checking costs a round trip to the server on every request, and a connection
# used a moment ago is as alive as a check could show. One idle longer (a Lambda
# frozen between invocations, a database restarted meanwhile) is checked first.
CHECK_AFTER_IDLE_S = 5.0
_returned_at: weakref.WeakKeyDictionary[Connection[Any], float] = weakref.WeakKeyDictionary()


def _note_return(conn: Connection[Any]) -> None:
    """Remember when the connection came back to the pool (or was opened for it)."""
    _returned_at[conn] = time.monotonic()


class _Pool(ConnectionPool[Connection[Any]]):
    """The pool, noting when each connection comes back (for check_if_idle).

    Noted here rather than with the pool's `reset` callback: a pool with one hands
    every returned connection to its worker thread, so each request woke that
    thread and the next one could wait for it to put the connection back.
    """

    def putconn(self, conn: Connection[Any]) -> None:
        _note_return(conn)
        super().putconn(conn)


def check_if_idle(conn: Connection[Any]) -> None:
    """The pool's check: ConnectionPool.check_connection, for connections idle a while."""
    returned = _returned_at.get(conn)
    if returned is not None and time.monotonic() - returned < CHECK_AFTER_IDLE_S:
        return
    ConnectionPool.check_connection(conn)


def _options(settings: Settings) -> str:
    return f"-c statement_timeout={settings.db_statement_timeout_ms} -c TimeZone=UTC"


def conninfo(settings: Settings, *, as_owner: bool = False) -> str:
    """Connection string: DATABASE_URL locally; in AWS the host with the IAM user,
    or (as_owner, for migrations) the master credentials from Secrets Manager."""
    timeout = max(1, int(settings.db_connect_timeout_s))
    if settings.database_url:
        return make_conninfo(
            settings.database_url, connect_timeout=timeout, options=_options(settings)
        )
    common: dict[str, Any] = {
        "host": settings.db_host,
        "port": settings.db_port,
        "dbname": settings.db_name,
        "sslmode": "require",
        "connect_timeout": timeout,
        "options": _options(settings),
    }
    if as_owner or not settings.db_iam_user:
        # Imported here: only the AWS path needs it, and it is not free at cold start.
        from aws_lambda_powertools.utilities.parameters import get_secret

        secret = json.loads(str(get_secret(str(settings.db_secret_arn), max_age=300)))
        return make_conninfo(user=secret["username"], password=secret["password"], **common)
    return make_conninfo(user=settings.db_iam_user, **common)


def iam_token_factory(settings: Settings) -> Callable[[], dict[str, Any]] | None:
    """Per-connection kwargs carrying a fresh IAM auth token (valid 15 minutes).

    The pool calls this for every new connection, so a token never goes stale.
    """
    if settings.database_url or not settings.db_iam_user:
        return None
    import boto3

    rds = boto3.client("rds", region_name=settings.aws_region)

    def kwargs() -> dict[str, Any]:
        token = rds.generate_db_auth_token(
            DBHostname=str(settings.db_host),
            Port=settings.db_port,
            DBUsername=str(settings.db_iam_user),
        )
        return {"password": token, "autocommit": True}

    return kwargs


class TracedCursor(Cursor[Any]):
    """A cursor whose statements are spans of the current trace (text only, no parameters)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        with tracing.statement_span(query):
            return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        with tracing.statement_span(query):
            super().executemany(query, params_seq, **kwargs)


def _connection_kwargs(settings: Settings) -> dict[str, Any] | Callable[[], dict[str, Any]]:
    """What each new connection is opened with: autocommit, IAM token, traced cursors."""
    extra: dict[str, Any] = {"cursor_factory": TracedCursor} if tracing.enabled() else {}
    token = iam_token_factory(settings)
    if token is None:
        return {"autocommit": True, **extra}
    return lambda: {**token(), **extra}


def create_pool(
    settings: Settings, *, max_size: int | None = None
) -> ConnectionPool[Connection[Any]]:
    pool: ConnectionPool[Connection[Any]] = _Pool(
        conninfo(settings),
        min_size=1,
        max_size=max_size or settings.db_pool_max_size,
        open=False,
        # A connection broken by a database restart is replaced, not handed out.
        check=check_if_idle,
        # A connection opened a moment ago is as alive as a check could show: without
        # this the first request of every process paid a check round trip too.
        configure=_note_return,
        timeout=settings.db_connect_timeout_s,
        kwargs=_connection_kwargs(settings),
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
