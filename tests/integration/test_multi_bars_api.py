"""GET /api/v1/bars and /api/v1/latest against real PostgreSQL: paging, missing, sessions,
adjustments and every bad parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.calendar import NEW_YORK, nyse
from market_data.models import BAR_COLUMNS
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.actions import replace_actions
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

PROBLEM = "application/problem+json"
URL = "/api/v1/bars"


def all_pages(client: TestClient, params: dict[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """Every (symbol, time) across the pages, in order, and how many pages it took."""
    seen: list[tuple[str, str]] = []
    pages = 0
    while True:
        response = client.get(URL, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert page["count"] == sum(len(s) for s in page["bars"].values())
        for symbol, series in page["bars"].items():
            assert all(bar["symbol"] == symbol for bar in series)
            seen += [(symbol, bar["time"]) for bar in series]
        if not page["next_cursor"]:
            return seen, pages
        params = {**params, "cursor": page["next_cursor"]}


def stored(
    conn: Connection[Any], timeframe: str, start: datetime, end: datetime
) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT symbol, time FROM bars WHERE timeframe = %s AND time >= %s AND time < %s",
        (timeframe, start, end),
    ).fetchall()
    return {(r[0], r[1].astimezone(UTC).isoformat().replace("+00:00", "Z")) for r in rows}


@pytest.fixture
def three_lengths(conn: Connection[Any]) -> None:
    """5-minute bars of three symbols over ranges of different lengths."""
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.M5, utc(2024, 3, 4), utc(2024, 3, 12))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.M5, utc(2024, 3, 6), utc(2024, 3, 10))
    seed_series(conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.M5, utc(2024, 3, 8), utc(2024, 3, 9))


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_pages_return_every_bar_of_every_symbol_exactly_once(
    client: TestClient, conn: Connection[Any], three_lengths: None, sort: str
) -> None:
    params = {"symbols": "ETH-USD,AAPL,BTC-USD", "timeframe": "5m", "start": "2024-03-04",
              "end": "2024-03-11", "limit": 377, "sort": sort}  # fmt: skip
    seen, pages = all_pages(client, params)
    expected = stored(conn, "5m", utc(2024, 3, 4), utc(2024, 3, 12))
    assert len(expected) > 2500 and pages > 6
    assert len(seen) == len(set(seen)) and set(seen) == expected
    # Symbols ascending, each one's bars in the requested time order.
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    for symbol in ("AAPL", "BTC-USD", "ETH-USD"):
        times = [t for s, t in seen if s == symbol]
        assert times == sorted(times, reverse=sort == "desc")


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_pages_of_a_multiple_return_every_bucket_exactly_once(
    client: TestClient, three_lengths: None, sort: str
) -> None:
    params = {"symbols": "AAPL,BTC-USD,ETH-USD", "timeframe": "25m", "start": "2024-03-04",
              "end": "2024-03-11", "limit": 50, "sort": sort}  # fmt: skip
    seen, pages = all_pages(client, params)
    whole = client.get(URL, params={**params, "limit": 8000}).json()
    assert whole["next_cursor"] is None and pages > 10
    assert seen == [(s, bar["time"]) for s, bars in whole["bars"].items() for bar in bars]
    assert len(seen) == len(set(seen))


def test_missing_symbols_say_why(client: TestClient, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2023, 1, 1), utc(2023, 2, 1))
    seed_series(conn, "MSFT", AssetClass.STOCK, Timeframe.H1, utc(2024, 1, 2), utc(2024, 1, 5))
    seed_series(conn, "KO", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    conn.execute(
        "UPDATE series_stats SET vendor_adjusted_from = first_time,"
        " vendor_adjusted_until = last_time WHERE symbol = 'KO'"
    )
    params = {"symbols": "AAPL,BTC-USD,MSFT,KO,ZZZZ", "start": "2024-01-01", "end": "2024-01-31",
              "adjustment": "raw"}  # fmt: skip
    body = client.get(URL, params=params).json()
    reasons = {m["symbol"]: m["reason"] for m in body["missing"]}
    assert reasons == {"BTC-USD": "no-data", "MSFT": "no-timeframe",
                       "KO": "vendor-adjusted", "ZZZZ": "unknown-symbol"}  # fmt: skip
    assert list(body["bars"]) == ["AAPL"] and len(body["bars"]["AAPL"]) == 21

    unknown = client.get(URL, params={"symbols": "ZZZZ,YYYY"})
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["detail"] == "none of the symbols is tracked: YYYY, ZZZZ"
    assert {m["reason"] for m in unknown.json()["missing"]} == {"unknown-symbol"}
    nothing = client.get(URL, params={"symbols": "BTC-USD", "start": "2024-01-01"})
    assert nothing.status_code == 404 and nothing.json()["missing"][0]["reason"] == "no-data"


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"symbols": ",".join(f"S{i}" for i in range(201))}, 422, "symbols"),
        ({"symbols": ""}, 422, "symbols"),
        ({"symbols": "AAPL", "timeframe": "0m"}, 422, "timeframe"),
        ({"symbols": "AAPL", "timeframe": "61m"}, 422, "timeframe"),
        ({"symbols": "AAPL", "timeframe": "24h"}, 422, "timeframe"),
        ({"symbols": "AAPL", "timeframe": "5mo"}, 422, "timeframe"),
        ({"symbols": "AAPL", "timeframe": "3x"}, 422, "timeframe"),
        ({"symbols": "AAPL", "session": "night"}, 422, "session"),
        ({"symbols": "AAPL", "adjustment": "some"}, 422, "adjustment"),
        ({"symbols": "AAPL", "limit": "8001"}, 422, "limit"),
        ({"symbols": "AAPL", "cursor": "nope"}, 400, "cursor"),
        ({"symbols": "AAPL;DROP"}, 422, "symbol"),
        (
            {"symbols": "AAPL", "timeframe": "2h", "start": "2020-01-01", "end": "2024-01-01"},
            422,
            "at most 366 days",
        ),
    ],
)
def test_every_bad_parameter_is_a_problem_naming_it(
    client: TestClient, conn: Connection[Any], params: dict[str, str], status: int, names: str
) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    response = client.get(URL, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert names in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/latest", "/api/v1/symbols/AAPL/gaps"])
@pytest.mark.parametrize("timeframe", ["0m", "61m", "5mo", "2h"])
def test_latest_and_gaps_name_a_bad_timeframe(
    client: TestClient, conn: Connection[Any], path: str, timeframe: str
) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    response = client.get(path, params={"timeframe": timeframe})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert "timeframe" in response.json()["detail"]


def test_csv_pages_carry_a_symbol_column(client: TestClient, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    seed_series(conn, "MSFT", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    params = {"symbols": "MSFT,AAPL", "start": "2024-01-01", "end": "2024-01-31"}
    as_json = client.get(URL, params=params).json()
    as_csv = client.get(URL, params={**params, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.strip().split("\n")
    assert lines[0].startswith("symbol,time,open,high,low,close,volume")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [s, bar["time"]] for s, bars in as_json["bars"].items() for bar in bars
    ]
    weekly = client.get(URL, params={**params, "timeframe": "2w", "format": "csv"})
    assert weekly.text.split("\n")[0].endswith(",fetched_at,bars_in")


@pytest.mark.parametrize("adjustment", ["raw", "split", "dividend", "all"])
def test_every_adjustment_matches_the_single_symbol_endpoint(
    client: TestClient, conn: Connection[Any], adjustment: str
) -> None:
    provider, now = SyntheticProvider(), datetime.now(UTC)
    for symbol in ("AAPL", "KO"):
        seed_series(conn, symbol, start=utc(2019, 1, 1), end=utc(2022, 1, 1))
        seed_series(
            conn, symbol, AssetClass.STOCK, Timeframe.H1, utc(2020, 8, 20), utc(2020, 9, 10)
        )
        replace_actions(conn, symbol, provider.fetch_actions(symbol, AssetClass.STOCK).actions,
                        provider.source, now)  # fmt: skip
    for timeframe, start, end in (("1d", "2019-01-01", "2021-12-31"),
                                  ("1h", "2020-08-20", "2020-09-09")):  # fmt: skip
        params = {"start": start, "end": end, "adjustment": adjustment, "timeframe": timeframe,
                  "limit": 8000}  # fmt: skip
        multi = client.get(URL, params={**params, "symbols": "AAPL,KO"}).json()["bars"]
        for symbol in ("AAPL", "KO"):
            single = client.get(f"/api/v1/historical/{symbol}", params=params).json()["data"]
            assert len(multi[symbol]) == len(single) > 0
            for mine, theirs in zip(multi[symbol], single, strict=True):
                assert mine == {
                    **theirs,
                    **{
                        k: pytest.approx(theirs[k], rel=1e-12)
                        for k in ("open", "high", "low", "close", "volume", "vwap")
                    },
                }


def test_regular_session_drops_exactly_the_bars_outside_it_early_closes_included(
    client: TestClient, conn: Connection[Any]
) -> None:
    # 2024-11-29, the day after Thanksgiving, closed at 13:00.
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.M5, utc(2024, 11, 25), utc(2024, 12, 3))
    seed_series(
        conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.M5, utc(2024, 11, 28), utc(2024, 11, 30)
    )
    params = {"symbols": "AAPL,BTC-USD", "timeframe": "5m", "start": "2024-11-25",
              "end": "2024-12-02", "limit": 8000}  # fmt: skip
    every = client.get(URL, params=params).json()["bars"]
    calendar = nyse()
    for session, bounds in (("regular", calendar.session_bounds),
                            ("extended", calendar.extended_bounds)):  # fmt: skip
        kept = client.get(URL, params={**params, "session": session}).json()["bars"]
        assert kept["BTC-USD"] == every["BTC-USD"]  # crypto ignores it

        def inside(bar: dict[str, Any], bounds: Any = bounds) -> bool:
            at = datetime.fromisoformat(bar["time"])
            day = at.astimezone(NEW_YORK).date()
            if not calendar.is_session(day):
                return False
            opens, closes = bounds(day)
            return opens <= at and at + timedelta(minutes=5) <= closes

        assert kept["AAPL"] == [bar for bar in every["AAPL"] if inside(bar)]
        # The synthetic bars are all in extended hours; regular hours drop some.
        assert len(kept["AAPL"]) < len(every["AAPL"]) or session == "extended"
    regular = client.get(URL, params={**params, "session": "regular"}).json()["bars"]["AAPL"]
    early = [b["time"] for b in regular if b["time"].startswith("2024-11-29")]
    assert early[0] == "2024-11-29T14:30:00Z" and early[-1] == "2024-11-29T17:55:00Z"
    assert len(early) == 42  # 09:30-13:00 New York in 5-minute bars


def test_latest_bars_with_their_age(client: TestClient, conn: Connection[Any]) -> None:
    now = datetime.now(UTC)
    seed_series(conn, "AAPL", start=now - timedelta(days=30), end=now)
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, now - timedelta(days=30),
                now - timedelta(days=5))  # fmt: skip
    response = client.get("/api/v1/latest", params={"symbols": "AAPL,BTC-USD,ZZZZ"})
    assert response.status_code == 200, response.text
    body = response.json()
    latest = {item["symbol"]: item for item in body["latest"]}
    last = conn.execute(
        "SELECT symbol, max(time) FROM bars WHERE timeframe = '1d' GROUP BY symbol"
    ).fetchall()
    for symbol, time in last:
        assert latest[symbol]["bar"]["time"] == time.astimezone(UTC).isoformat().replace(
            "+00:00", "Z"
        )
    btc = latest["BTC-USD"]
    assert (
        btc["sessions_missed"]
        == (now.date() - datetime.fromisoformat(btc["bar"]["time"]).date()).days - 1
    )
    assert btc["age_hours"] == btc["market_age_hours"] > 24 * 5
    assert latest["AAPL"]["sessions_missed"] <= 1
    assert body["missing"] == [
        {"symbol": "ZZZZ", "reason": "unknown-symbol", "detail": "ZZZZ is not tracked"}
    ]
    every = client.get("/api/v1/latest").json()
    assert [item["symbol"] for item in every["latest"]] == ["AAPL", "BTC-USD"]


def test_the_historical_endpoint_reads_multiples_and_sessions_too(
    client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.M5, utc(2024, 11, 25), utc(2024, 12, 3))
    for params in ({"timeframe": "10m"}, {"timeframe": "5m", "session": "regular"},
                   {"timeframe": "2h", "session": "regular", "sort": "desc"}):  # fmt: skip
        params = {**params, "start": "2024-11-25", "end": "2024-12-02"}
        multi = client.get(URL, params={**params, "symbols": "AAPL"}).json()["bars"]["AAPL"]
        pages: list[dict[str, Any]] = []
        cursor: dict[str, str] = {}
        while True:
            page = client.get("/api/v1/historical/AAPL", params={**params, **cursor, "limit": 97})
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["timeframe"] == params["timeframe"] and body["symbol"] == "AAPL"
            pages += body["data"]
            if not body["next_cursor"]:
                break
            assert body["has_more"] and 'rel="next"' in page.headers["link"]
            cursor = {"cursor": body["next_cursor"]}
        assert pages == multi
    as_csv = client.get("/api/v1/historical/AAPL", params={"timeframe": "10m", "format": "csv",
                                                          "start": "2024-11-25"})  # fmt: skip
    assert as_csv.text.split("\n")[0] == ",".join((*BAR_COLUMNS, "bars_in"))
    bad = client.get("/api/v1/historical/AAPL", params={"timeframe": "61m"})
    assert bad.status_code == 422 and "timeframe" in bad.json()["detail"]
    none = client.get("/api/v1/historical/ZZZZ", params={"timeframe": "10m"})
    assert none.status_code == 404 and none.json()["detail"] == "ZZZZ is not tracked"
    empty = client.get("/api/v1/historical/AAPL", params={"timeframe": "10m", "start": "2024-11-30",
                                                         "end": "2024-11-30"})  # fmt: skip
    assert empty.status_code == 404 and empty.json()["type"].endswith("/no-data")


@pytest.mark.parametrize("adjustment", ["raw", "split", "dividend", "all"])
def test_latest_and_bars_refuse_vendor_adjusted_bars_as_the_historical_endpoint_does(
    client: TestClient, conn: Connection[Any], adjustment: str
) -> None:
    provider, now = SyntheticProvider(), datetime.now(UTC)
    for symbol in ("AAPL", "KO", "MSFT"):
        seed_series(conn, symbol, start=utc(2024, 1, 1), end=utc(2024, 3, 1))
        replace_actions(conn, symbol, provider.fetch_actions(symbol, AssetClass.STOCK).actions,
                        provider.source, now)  # fmt: skip
    # AAPL: every bar stored vendor-adjusted, the latest one included. KO: all but the
    # latest (the range is half-open, so a latest bar at `until` is raw).
    conn.execute(
        "UPDATE series_stats SET vendor_adjusted_from = first_time, vendor_adjusted_until ="
        " CASE WHEN symbol = 'AAPL' THEN last_time + interval '1 day' ELSE last_time END"
        " WHERE symbol IN ('AAPL', 'KO')"
    )
    # The reads of exactly the latest bar (`end` is inclusive): the same bar for all three.
    last = conn.execute("SELECT max(time) FROM bars WHERE symbol = 'AAPL'").fetchone()[0]
    window = {"adjustment": adjustment, "start": last.isoformat(), "end": last.isoformat()}

    def historical(symbol: str) -> Any:
        return client.get(f"/api/v1/historical/{symbol}", params=window)

    body = client.get("/api/v1/latest", params={"symbols": "AAPL,KO,MSFT",
                                                "adjustment": adjustment}).json()  # fmt: skip
    served = {item["symbol"]: item["bar"] for item in body["latest"]}
    many = client.get(URL, params={"symbols": "AAPL,KO,MSFT", **window}).json()
    if adjustment == "split":  # the vendor's bars are the split view: served as stored
        assert list(served) == ["AAPL", "KO", "MSFT"] and body["missing"] == []
        assert list(many["bars"]) == ["AAPL", "KO", "MSFT"] and many["missing"] == []
        assert served["AAPL"] == historical("AAPL").json()["data"][0]
        return
    refused = historical("AAPL")
    assert refused.status_code == 409 and refused.json()["type"].endswith("/vendor-adjusted")
    expected = [{"symbol": "AAPL", "reason": "vendor-adjusted", "detail": refused.json()["detail"]}]
    assert body["missing"] == many["missing"] == expected
    assert list(served) == list(many["bars"]) == ["KO", "MSFT"]
    for symbol in ("KO", "MSFT"):  # the others in the view asked, as the historical endpoint
        [theirs] = historical(symbol).json()["data"]
        assert served[symbol] == pytest.approx(theirs)
        assert many["bars"][symbol] == [pytest.approx(theirs)]

    alone = client.get("/api/v1/latest", params={"symbols": "AAPL", "adjustment": adjustment})
    assert alone.status_code == 404 and alone.headers["content-type"] == PROBLEM
    assert alone.json()["detail"] == refused.json()["detail"]
    assert alone.json()["missing"] == expected
