"""Fixtures for the Python client's tests: the client over the real app, in-process.

The Starlette TestClient is an httpx.Client, so `mdw_client.Client(http_client=...)`
sends every request through the real FastAPI app and its real PostgreSQL. Sleeps
are recorded instead of slept, so retries and polls cost no time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mdw_client import Client


class Sleeps(list[float]):
    """A stand-in for time.sleep that records each wait and can run a hook on it."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: Callable[[float], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.hook is not None:
            self.hook(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def mdw(client: TestClient, sleeps: Sleeps) -> Client:
    """The Python client over the real app (no key)."""
    return Client(http_client=client, sleep=sleeps)


@pytest.fixture
def admin_mdw(keyed_client: TestClient, admin_key: str, sleeps: Sleeps) -> Client:
    """The Python client over the real app with an admin key from the emulated key table."""
    return Client(http_client=keyed_client, api_key=admin_key, sleep=sleeps)


@pytest.fixture
def queued_app(keyed_client: TestClient, pipeline_settings: Any) -> Iterator[None]:
    """The app under test sending backfills to the emulated queue."""
    state = keyed_client.app.state  # type: ignore[attr-defined]
    built_with, state.settings = state.settings, pipeline_settings
    yield
    state.settings = built_with


@pytest.fixture
def drain(queued_app: None, pipeline_settings: Any, backfill_queue: str) -> Any:
    """A way to work the emulated backfill queue off in-process, as the worker Lambda would."""
    import boto3

    from devtools.run_backfill import drain_queue
    from market_data.wiring import build_worker

    worker = build_worker(pipeline_settings)
    sqs = boto3.client("sqs")
    return lambda: drain_queue(sqs, backfill_queue, worker.process_message)


@pytest.fixture
def live_api(settings: Any, conn: Any) -> Iterator[str]:
    """The real app served by uvicorn on a loopback port (as `make dev` serves it)."""
    import socket
    import threading
    import time

    import uvicorn

    from api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="client-test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start on loopback")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)
