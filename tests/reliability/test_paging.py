"""Paging under a moving clock, and cursors that were tampered with.

Without `end`, the range ends "now", which moves between two page requests; the
load test found that page two was then refused as "a different query". A cursor
now carries its first page's window.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series
from tests.reliability.conftest import assert_problem


@pytest.fixture
def recent_hours(conn: Connection[Any]) -> int:
    now = datetime.now(UTC)
    return seed_series(
        conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, now - timedelta(days=20), now
    )


def walk(client: TestClient, params: dict[str, Any]) -> list[str]:
    times: list[str] = []
    while True:
        response = client.get("/api/v1/historical/BTC-USD", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        times += [bar["time"] for bar in page["data"]]
        if not page["next_cursor"]:
            return times
        params = {**params, "cursor": page["next_cursor"]}


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_following_next_cursor_without_start_or_end_returns_the_first_pages_window_once(
    client: TestClient, recent_hours: int, sort: str
) -> None:
    times = walk(client, {"timeframe": "1h", "limit": 97, "sort": sort})
    assert len(times) == len(set(times)) == recent_hours
    assert times == sorted(times, reverse=sort == "desc")


def test_following_next_cursor_with_only_a_start_pages_through(
    client: TestClient, recent_hours: int
) -> None:
    start = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    times = walk(client, {"timeframe": "1h", "limit": 200, "start": start})
    assert len(times) == len(set(times)) == recent_hours


def forged(cursor: str, **changes: Any) -> str:
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload.update(changes)
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "changes",
    [
        {"s": 0},  # a window from 1970: wider than a 1h request may span
        {"e": 10**18},  # past the end of the calendar
        {"s": -1},
        {"s": "2024-01-01"},
        {"e": True},
        {"t": 10**20},
        {"v": 2},
    ],
    ids=[
        "window too wide",
        "end overflows",
        "negative",
        "a string",
        "a boolean",
        "position overflows",
        "unknown version",
    ],
)
def test_a_tampered_cursor_is_a_4xx_problem(
    client: TestClient, recent_hours: int, changes: dict[str, Any]
) -> None:
    params = {"timeframe": "1h", "limit": 50}
    first = client.get("/api/v1/historical/BTC-USD", params=params).json()
    response = client.get(
        "/api/v1/historical/BTC-USD",
        params={**params, "cursor": forged(first["next_cursor"], **changes)},
    )
    assert_problem(response, 400, 422)
