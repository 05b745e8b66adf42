"""Mangum's event translation on one long-lived event loop task.

Mangum runs each invocation as a new asyncio task. AnyIO ties the worker
threads FastAPI runs plain `def` endpoints in to the task that started them
and stops them when it ends, so every request started (and joined) a fresh
thread: about a millisecond, most of a small page's fixed cost. Here every
invocation runs inside one task that lives as long as the process, so the
worker thread is started once and reused. A Lambda process serves one request
at a time, so one task serving them in turn changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any

from mangum import Mangum
from mangum.protocols.http import HTTPCycle
from mangum.types import ASGI, LambdaContext, LambdaEvent, Response


class _Invocations:
    """One event loop and one task on it that runs each invocation's coroutine in turn."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[
            tuple[Coroutine[Any, Any, None], contextvars.Context, asyncio.Future[None]]
        ]

    def _ready(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._task = None
        if self._task is None or self._task.done():
            self._inbox = asyncio.Queue()
            self._task = self._loop.create_task(self._serve(), name="lambda-invocations")
        return self._loop

    async def _serve(self) -> None:
        while True:
            work, caller, done = await self._inbox.get()
            # The invocation sees the caller's context variables (the current trace
            # span, say), as a task Mangum created would; they are undone after it.
            tokens = [(var, var.set(value)) for var, value in caller.items()]
            try:
                await work
            except BaseException as exc:  # handed to the invocation waiting for it
                if not done.cancelled():
                    done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                if not done.cancelled():
                    done.set_result(None)
            finally:
                for var, token in reversed(tokens):
                    var.reset(token)

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        loop = self._ready()
        done: asyncio.Future[None] = loop.create_future()
        self._inbox.put_nowait((work, contextvars.copy_context(), done))
        loop.run_until_complete(done)

    def close(self) -> None:
        """Stop the task and close the loop (tests; a SnapStart snapshot keeps none)."""
        if self._loop is not None and not self._loop.is_closed():
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    self._loop.run_until_complete(self._task)
            self._loop.close()
        self._loop = self._task = None


invocations = _Invocations()
# The worker thread lives as long as the task; at interpreter exit the task ends first,
# which stops the thread, before Python waits for non-daemon threads (as
# concurrent.futures does for its own workers).
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(invocations.close)


class _Cycle(HTTPCycle):
    def __call__(self, app: ASGI) -> Response:
        invocations.run(self.run(app))
        return {"status": self.status, "headers": self.headers, "body": self.body}


class LambdaAdapter(Mangum):
    """Mangum (lifespan off) with every invocation on the long-lived task."""

    def __init__(self, app: ASGI, **options: Any) -> None:
        super().__init__(app, lifespan="off", **options)

    def _setup_event_loop(self) -> None:
        """No ambient loop is needed: _Invocations owns its own."""

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        handler = self.infer(event, context)
        response = _Cycle(handler.scope, handler.body)(self.app)
        return handler(response)
