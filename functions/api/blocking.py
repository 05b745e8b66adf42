"""Blocking work of a request: on the event loop in Lambda, in a worker thread elsewhere.

A Lambda process serves one request at a time, so blocking its event loop for
the database call costs nothing, while handing the call to a worker thread and
back costs two thread switches: on a small page, a large share of its time.
Under a server that multiplexes requests (make dev) the work goes to a thread
as FastAPI would send a plain `def` endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


def in_lambda(request: Request) -> bool:
    """Whether the request came through the Lambda adapter (it carries the event)."""
    return "aws.event" in request.scope


async def run_blocking(request: Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if in_lambda(request):
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)
