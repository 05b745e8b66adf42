"""FastAPI dependencies: settings and a pooled database connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import Connection

from api.problems import ProblemError
from market_data.db import get_pool
from market_data.settings import Settings

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one in
# a worker thread, and those hand-offs were most of a small request's overhead.


async def current_settings(request: Request) -> Settings:
    """The settings the app was built with (create_app puts them on app.state)."""
    settings: Settings = request.app.state.settings
    return settings


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


@contextmanager
def borrowed_database(request: Request) -> Iterator[Database]:
    """A Database for code that runs outside the dependency (the hot read route)."""
    with ExitStack() as stack:
        yield Database(request.app.state.settings, stack)


async def _database(settings: SettingsDep) -> AsyncIterator[Database]:
    # The connection is borrowed in the (threaded) endpoint on first use; giving
    # it back to the pool here is a quick, local operation.
    with ExitStack() as stack:
        yield Database(settings, stack)


DatabaseDep = Annotated[Database, Depends(_database)]


async def refuse_ambiguous_requests(request: Request) -> None:
    """A repeated query parameter or X-API-Key header is a 400, not "the last one wins".

    No parameter of this API takes a list, and a proxy, cache or WAF in front may
    read the first value where the app would read the last (parameter pollution).
    """
    keys = [key for key, _ in request.query_params.multi_items()]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ProblemError(
            400,
            "Query parameters may be given once each; repeated: " + ", ".join(repeated),
            slug="repeated-parameter",
        )
    if len(request.headers.getlist("x-api-key")) > 1:
        raise ProblemError(400, "Send one X-API-Key header.", slug="repeated-parameter")
