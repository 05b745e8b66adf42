"""FastAPI dependencies: settings and a pooled database connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Annotated, Any

from fastapi import Depends
from psycopg import Connection

from market_data.db import get_pool
from market_data.settings import Settings, get_settings

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one in
# a worker thread, and those hand-offs were most of a small request's overhead.


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


class Database:
    """Borrows a pooled connection on first use and returns it after the response.

    Lazy so that a request rejected by validation never touches the pool.
    """

    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        self._settings = settings
        self._stack = stack
        self._conn: Connection[Any] | None = None

    @property
    def conn(self) -> Connection[Any]:
        if self._conn is None:
            self._conn = self._stack.enter_context(get_pool(self._settings).connection())
        return self._conn


async def _database(settings: SettingsDep) -> AsyncIterator[Database]:
    # The connection is borrowed in the (threaded) endpoint on first use; giving
    # it back to the pool here is a quick, local operation.
    with ExitStack() as stack:
        yield Database(settings, stack)


DatabaseDep = Annotated[Database, Depends(_database)]
