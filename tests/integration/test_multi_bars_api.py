"""GET /api/v1/bars, /api/v1/latest and /api/v1/symbols/{symbol}/gaps against real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

PROBLEM = "application/problem+json"


def _all_pages(client: TestClient, params: dict[str, Any]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    while True:
        response = client.get("/api/v1/bars", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for symbol, series in page["bars"].items():
            seen += [(symbol, bar["time"]) for bar in series]
        if not page["next_cursor"]:
            return seen
        params = {**params, "cursor": page["next_cursor"]}


def test_smoke(client: TestClient, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 3, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1))
    r = client.get(
        "/api/v1/bars",
        params={"symbols": "AAPL,BTC-USD,ZZZZ", "start": "2024-01-01", "end": "2024-01-31"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    print({k: len(v) for k, v in body["bars"].items()}, body["missing"])
    r = client.get(
        "/api/v1/bars",
        params={
            "symbols": "AAPL,BTC-USD",
            "timeframe": "1mo",
            "start": "2024-01-01",
            "end": "2024-02-28",
        },
    )
    assert r.status_code == 200, r.text
    print(r.json()["bars"])
    r = client.get("/api/v1/latest", params={"symbols": "AAPL,BTC-USD"})
    assert r.status_code == 200, r.text
    print(r.json())
    r = client.get("/api/v1/symbols/AAPL/gaps", params={"start": "2024-01-01", "end": "2024-03-31"})
    assert r.status_code == 200, r.text
    print(r.json())
