"""GET /api/v1/timeframes lists exactly what the bar endpoints accept: every listed
timeframe reads bars from real PostgreSQL, and the common ones it leaves out are refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.errors import InvalidTimeframeError
from market_data.symbols import AssetClass
from market_data.timeframes import SizeUnit, Timeframe, parse_bar_size
from tests.helpers import seed_series, utc

URL = "/api/v1/timeframes"


def listed(client: TestClient) -> list[str]:
    body = client.get(URL).json()
    multiples = [f"{n}{m['unit']}" for m in body["multiples"] for n in m["counts"]]
    return [t["timeframe"] for t in body["timeframes"]] + multiples


def test_the_listing_keeps_the_stored_timeframes_and_adds_the_multiples(
    client: TestClient,
) -> None:
    body = client.get(URL).json()
    assert [t["timeframe"] for t in body["timeframes"]] == [t.value for t in Timeframe]
    assert set(body["timeframes"][0]) == {"timeframe", "seconds", "intraday", "default_span_days",
                                          "max_span_days", "chart_span_days"}  # fmt: skip
    by_unit = {m["unit"]: m for m in body["multiples"]}
    assert list(by_unit) == ["m", "h", "d", "w", "mo"]
    assert by_unit["m"]["counts"] == list(range(1, 60)) and by_unit["m"]["intraday"]
    assert by_unit["m"]["built_from"] == ["1m", "5m", "15m"]  # 30m divides only itself
    assert by_unit["h"]["counts"] == list(range(1, 24)) and by_unit["h"]["max_span_days"] == 366
    assert by_unit["d"]["counts"] == list(range(1, 253)) and by_unit["d"]["built_from"] == ["1d"]
    assert by_unit["w"]["counts"] == list(range(1, 53)) and not by_unit["w"]["intraday"]
    assert by_unit["mo"]["counts"] == [1, 2, 3, 4, 6, 12]
    assert by_unit["mo"]["max_span_days"] == 50 * 366
    assert body["defaults"] == {"validated_only": True, "min_quality": 0.85, "limit": 5000,
                                "max_limit": 8000}  # fmt: skip


def test_every_listed_timeframe_reads_bars_from_the_historical_endpoint(
    client: TestClient, conn: Connection[Any]
) -> None:
    for timeframe in Timeframe:  # every stored timeframe, so each multiple has its parts
        start, end = (utc(2024, 3, 4), utc(2024, 3, 6)) if timeframe.is_intraday else (
            utc(2024, 1, 1), utc(2024, 7, 1))  # fmt: skip
        seed_series(conn, "AAPL", AssetClass.STOCK, timeframe, start, end)
    every = listed(client)
    assert len(every) == len(set(every)) + 8  # each stored one also appears as a multiple
    for text in every:
        size = parse_bar_size(text)
        window = ("2024-03-04", "2024-03-05") if size.is_intraday else ("2024-02-05", "2024-02-09")
        response = client.get("/api/v1/historical/AAPL", params={
            "timeframe": text, "start": window[0], "end": window[1]})  # fmt: skip
        assert response.status_code == 200, (text, response.text)
        body = response.json()
        assert body["timeframe"] == text and body["count"] > 0, text


COMMON_UNLISTED = ["60m", "90m", "120m", "24h", "48h", "0m", "0h", "0d", "253d", "365d", "53w",
                   "5mo", "7mo", "24mo", "1y", "1q", "1s", "30s", "2min", "1hr", "1wk", "07m",
                   "m", "1.5h", "-1d"]  # fmt: skip


@pytest.mark.parametrize("text", COMMON_UNLISTED)
def test_a_common_timeframe_that_is_not_listed_is_refused(client: TestClient, text: str) -> None:
    assert text not in listed(client)
    response = client.get("/api/v1/historical/AAPL", params={"timeframe": text})
    assert response.status_code == 422, response.text
    assert "timeframe" in response.json()["detail"]


def test_the_parser_accepts_a_multiple_exactly_when_it_is_listed(client: TestClient) -> None:
    accepted = set(listed(client))
    for unit in SizeUnit:
        for count in range(0, 400):
            text = f"{count}{unit.value}"
            try:
                parse_bar_size(text)
            except InvalidTimeframeError:
                assert text not in accepted
            else:
                assert text in accepted
