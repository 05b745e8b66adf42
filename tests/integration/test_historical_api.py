from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

PROBLEM = "application/problem+json"


@pytest.fixture
def aapl(conn: Connection[Any]) -> None:
    seed_series(conn)


def test_january_2024_daily_bars(client: TestClient, aapl: None) -> None:
    response = client.get(
        "/api/v1/historical/AAPL", params={"start": "2024-01-01", "end": "2024-01-31"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["symbol"] == "AAPL" and body["timeframe"] == "1d"
    assert body["start_date"] == "2024-01-01" and body["end_date"] == "2024-01-31"
    assert body["count"] == len(body["data"]) == 21  # NYSE sessions in January 2024
    assert body["next_cursor"] is None
    first = body["data"][0]
    assert first["time"] == "2024-01-02T05:00:00Z"
    assert set(first) >= {"open", "high", "low", "close", "volume", "vwap", "trades", "source",
                          "validated", "quality_score", "validation_notes", "gap_detected",
                          "volume_anomaly", "fetched_at"}  # fmt: skip
    assert first["source"] == "synthetic"


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_pages_return_every_bar_exactly_once(
    client: TestClient, conn: Connection[Any], sort: str
) -> None:
    total = seed_series(
        conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.M15, utc(2024, 1, 1), utc(2024, 3, 1)
    )
    assert total > 5000
    params: dict[str, Any] = {"timeframe": "15m", "start": "2024-01-01", "end": "2024-02-29",
                              "limit": 977, "sort": sort}  # fmt: skip
    seen: list[str] = []
    while True:
        page = client.get("/api/v1/historical/ETH-USD", params=params).json()
        seen += [bar["time"] for bar in page["data"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen, reverse=sort == "desc")


def test_csv_format_carries_the_same_bars(client: TestClient, aapl: None) -> None:
    params = {"start": "2024-01-01", "end": "2024-01-31"}
    as_json = client.get("/api/v1/historical/AAPL", params=params).json()
    as_csv = client.get("/api/v1/historical/AAPL", params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().split("\n")
    assert lines[0].startswith("time,open,high,low,close,volume")
    assert len(lines) - 1 == as_json["count"]
    assert lines[1].split(",")[0] == as_json["data"][0]["time"]


def test_crypto_symbol_spellings_resolve_to_the_same_series(
    client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1))
    bodies = [
        client.get(
            f"/api/v1/historical/{s}", params={"start": "2024-01-01", "end": "2024-01-10"}
        ).json()
        for s in ("BTC-USD", "btcusd", "X:BTCUSD")
    ]
    assert bodies[0]["count"] == 10
    assert bodies[0]["data"] == bodies[1]["data"] == bodies[2]["data"]


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/v1/historical/ZZZZ", {}, 404, "not tracked"),
        (
            "/api/v1/historical/AAPL",
            {"start": "2030-01-01", "end": "2030-01-31"},
            404,
            "no 1d bars",
        ),
        (
            "/api/v1/historical/AAPL",
            {"start": "2024-02-01", "end": "2024-01-01"},
            422,
            "start must be before end",
        ),
        (
            "/api/v1/historical/AAPL",
            {"timeframe": "1m", "start": "2020-01-01", "end": "2024-01-01"},
            422,
            "at most 366 days",
        ),
        ("/api/v1/historical/AAPL", {"limit": "100000"}, 422, "limit"),
        ("/api/v1/historical/AAPL", {"limit": "-1"}, 422, "limit"),
        ("/api/v1/historical/AAPL", {"timeframe": "7x"}, 422, "timeframe"),
        ("/api/v1/historical/AAPL", {"start": "2024-13-45"}, 422, "2024-13-45"),
        ("/api/v1/historical/AAPL", {"min_quality": "2"}, 422, "min_quality"),
        ("/api/v1/historical/AAPL'; DROP TABLE bars;--", {}, 422, "invalid symbol"),
        ("/api/v1/historical/AAPL", {"cursor": "not-a-cursor"}, 400, "cursor"),
        (
            "/api/v1/historical/AAPL",
            {"start": "0001-01-01", "end": "9999-12-31"},
            422,
            "between 1970",
        ),
        ("/api/v1/historical/AAPL", {"sort": "sideways"}, 422, "sort"),
        ("/api/v1/nowhere", {}, 404, "Not Found"),
    ],
)
def test_bad_requests_get_a_problem_that_names_what_is_wrong(
    client: TestClient, aapl: None, path: str, params: dict[str, str], status: int, says: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail", "instance"} <= set(problem)
    assert says in problem["detail"]
    assert "Traceback" not in response.text and "SELECT" not in response.text


def test_cursor_from_another_query_is_rejected(client: TestClient, aapl: None) -> None:
    params = {"start": "2024-01-01", "end": "2024-03-31", "limit": 5}
    cursor = client.get("/api/v1/historical/AAPL", params=params).json()["next_cursor"]
    response = client.get(
        "/api/v1/historical/AAPL", params={**params, "sort": "desc", "cursor": cursor}
    )
    assert response.status_code == 400
    assert "different query" in response.json()["detail"]
