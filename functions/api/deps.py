"""FastAPI dependencies: settings and a pooled database connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Annotated, Any

from fastapi import Depends
from psycopg import Connection

from market_data.db import get_pool
from market_data.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]


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


def _database(settings: SettingsDep) -> Iterator[Database]:
    with ExitStack() as stack:
        yield Database(settings, stack)


DatabaseDep = Annotated[Database, Depends(_database)]
