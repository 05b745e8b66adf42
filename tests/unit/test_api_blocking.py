"""Blocking work runs on the event loop under Lambda and in a worker thread elsewhere."""

from __future__ import annotations

import asyncio
import threading

from starlette.requests import Request

from api.blocking import run_blocking


def _request(**extra: object) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], **extra})


def _thread_of_call(request: Request) -> threading.Thread:
    async def call() -> threading.Thread:
        return await run_blocking(request, threading.current_thread)

    return asyncio.run(call())


def test_under_lambda_the_work_stays_on_the_event_loop_thread() -> None:
    lambda_request = _request(**{"aws.event": {"requestContext": {}}})
    assert _thread_of_call(lambda_request) is threading.current_thread()


def test_elsewhere_the_work_goes_to_a_worker_thread() -> None:
    assert _thread_of_call(_request()) is not threading.current_thread()


def test_the_lambda_adapter_reuses_one_worker_thread_across_invocations() -> None:
    from fastapi import FastAPI
    from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

    from api.runner import LambdaAdapter
    from devtools.lambda_context import FakeLambdaContext, load_event

    app = FastAPI()
    seen: list[int] = []

    @app.get("/health")
    def health() -> dict[str, str]:  # a plain def: FastAPI runs it in a worker thread
        seen.append(threading.get_ident())
        return {"status": "ok"}

    adapter = LambdaAdapter(app, text_mime_types=list(DEFAULT_TEXT_MIME_TYPES))
    event = load_event("api_health")
    event["path"] = "/health"
    event["requestContext"]["path"] = "/health"
    for _ in range(3):
        assert adapter(event, FakeLambdaContext())["statusCode"] == 200  # type: ignore[arg-type]
    assert len(seen) == 3 and len(set(seen)) == 1
    assert seen[0] != threading.get_ident()
