"""Fixtures for the Python client's tests: the client over the real app, in-process.

The Starlette TestClient is an httpx.Client, so `mdw_client.Client(http_client=...)`
sends every request through the real FastAPI app and its real PostgreSQL. Sleeps
are recorded instead of slept, so retries and polls cost no time.
"""

from __future__ import annotations

from collections.abc import Callable
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
