"""Bars through the Python client, against the real app and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.repositories.symbols import add_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import (
    BadRequestError,
    Bar,
    Bars,
    Client,
    MaxBarsExceededError,
    NotFoundError,
    Progress,
    ValidationError,
)
from tests.client.conftest import Sleeps
from tests.client.support import rows
from tests.helpers import seed_series, utc


@pytest.fixture
def aapl(conn: Connection[Any]) -> int:
    return seed_series(conn)  # AAPL daily bars, 2023-2024


def test_one_symbol_returns_exactly_the_bars_the_api_serves(
    mdw: Client, client: TestClient, aapl: int
) -> None:
    bars = mdw.bars("AAPL", "1d", start="2024-01-01", end="2024-01-31")

    raw = client.get("/api/v1/historical/AAPL", params={"start": "2024-01-01", "end": "2024-01-31"})
    served = raw.json()["data"]
    assert isinstance(bars, Bars) and len(bars) == len(served) == 21
    assert bars.symbols == ["AAPL"] and bars.timeframe == "1d" and bars.missing == []
    first = bars[0]
    assert first.symbol == "AAPL"
    assert first.time == datetime(2024, 1, 2, 5, tzinfo=UTC)
    assert first.time.tzinfo is not None and first.fetched_at.tzinfo is not None
    for bar, row in zip(bars, served, strict=True):
        assert bar.time.isoformat().replace("+00:00", "Z") == row["time"]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            row["open"], row["high"], row["low"], row["close"], row["volume"],
        )  # fmt: skip
        assert (bar.vwap, bar.trades, bar.source, bar.validated) == (
            row["vwap"], row["trades"], row["source"], row["validated"],
        )  # fmt: skip


def test_fifty_thousand_bars_page_through_every_server_row_exactly_once(
    mdw: Client, conn: Connection[Any]
) -> None:
    start = utc(2024, 1, 1)
    end = start + timedelta(minutes=50_000)
    seeded = seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.M1, start, end)
    assert seeded == 50_000
    served = rows(conn, "BTC-USD", "1m", validated_only=False)
    pages: list[int] = []

    began = time.monotonic()
    bars = mdw.bars(
        "BTC-USD",
        "1m",
        start=start,
        end=end - timedelta(microseconds=1),
        validated_only=False,
        min_quality=0,
        on_progress=lambda p: pages.append(p.bars),
    )
    elapsed = time.monotonic() - began

    times = [b.time for b in bars]
    assert len(times) == len(set(times)) == 50_000
    assert times == served  # the server's rows, in order, each exactly once
    assert len(pages) == 7  # 8,000 per page
    assert elapsed < 60, f"paging 50,000 bars took {elapsed:.1f}s"


def test_the_default_quality_filters_match_the_servers(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.M15, utc(2024, 1, 1), utc(2024, 2, 1))
    bars = mdw.bars("ETH-USD", "15m", start="2024-01-01", end="2024-01-31", page_size=977)
    assert [b.time for b in bars] == rows(conn, "ETH-USD", "15m")
    assert all(b.validated and b.quality_score >= 0.85 for b in bars)


def test_a_range_longer_than_the_servers_cap_is_split_without_gaps_or_repeats(
    mdw: Client, client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "SOL-USD", AssetClass.CRYPTO, Timeframe.H4, utc(2022, 1, 1), utc(2024, 7, 1))
    too_long = client.get(
        "/api/v1/historical/SOL-USD",
        params={"timeframe": "4h", "start": "2022-01-01", "end": "2024-06-30"},
    )
    assert too_long.status_code == 422  # one request may span 366 days of intraday bars

    bars = mdw.bars("SOL-USD", "4h", start="2022-01-01", end="2024-06-30")

    times = [b.time for b in bars]
    assert times == rows(conn, "SOL-USD", "4h")
    assert len(set(times)) == len(times) > 5_000
    descending = mdw.bars(
        "SOL-USD", "4h", start=date(2022, 1, 1), end=date(2024, 6, 30), sort="desc"
    )
    assert [b.time for b in descending] == times[::-1]


def test_many_symbols_come_back_long_in_the_order_asked(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "MSFT")
    seed_series(conn, "AAPL")
    bars = mdw.bars(["MSFT", "AAPL"], "1d", start="2024-03-01", end="2024-03-31")

    assert bars.symbols == ["MSFT", "AAPL"]
    assert [b.symbol for b in bars] == ["MSFT"] * 20 + ["AAPL"] * 20
    per_symbol = bars.by_symbol()
    assert list(per_symbol) == ["MSFT", "AAPL"]
    assert [b.time for b in per_symbol["AAPL"]] == [b.time for b in per_symbol["MSFT"]]
    assert [b.time for b in per_symbol["AAPL"]] == [
        b.time for b in mdw.bars("AAPL", start="2024-03-01", end="2024-03-31")
    ]


def test_many_symbols_report_the_ones_without_bars(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL")
    seed_series(conn, "MSFT", start=utc(2020, 1, 1), end=utc(2021, 1, 1))

    bars = mdw.bars(["AAPL", "ZZZZ", "MSFT"], start="2024-03-01", end="2024-03-31")

    assert {b.symbol for b in bars} == {"AAPL"}
    assert [(m.symbol, m.reason) for m in bars.missing] == [
        ("ZZZZ", "unknown-symbol"),
        ("MSFT", "no-data"),
    ]


def test_one_unknown_symbol_raises_not_found_with_the_problem(mdw: Client, aapl: int) -> None:
    with pytest.raises(NotFoundError) as caught:
        mdw.bars("ZZZZ")
    error = caught.value
    assert error.status == 404 and error.title == "Not Found"
    assert error.detail == "symbol ZZZZ is not tracked" and error.slug == "unknown-symbol"
    assert error.instance == "/api/v1/historical/ZZZZ"


def test_a_range_without_bars_is_empty_not_an_error(mdw: Client, aapl: int) -> None:
    bars = mdw.bars("AAPL", start="2030-01-01", end="2030-01-31")
    assert len(bars) == 0 and list(bars) == []
    assert list(mdw.iter_bars("AAPL", start="2030-01-01", end="2030-01-31")) == []


def test_invalid_parameters_raise_validation_error_with_the_field_errors(
    mdw: Client, aapl: int
) -> None:
    with pytest.raises(ValidationError) as caught:
        mdw.bars("AAPL", "7x", min_quality=2)
    error = caught.value
    assert error.status == 422
    assert error.title in ("Unprocessable Entity", "Unprocessable Content")  # by Python version
    assert {e.field for e in error.errors} == {"timeframe", "min_quality"}
    assert all(e.loc[0] == "query" and e.msg for e in error.errors)
    assert "timeframe" in error.detail and "min_quality" in str(error)

    with pytest.raises(ValidationError, match="start must be before end") as reversed_range:
        mdw.bars("AAPL", start="2024-02-01", end="2024-01-01")
    assert reversed_range.value.slug == "invalid-range" and reversed_range.value.errors == []


def test_a_foreign_cursor_is_a_bad_request(mdw: Client, aapl: int) -> None:
    with pytest.raises(BadRequestError, match="cursor"):
        mdw.bar_page("AAPL", cursor="not-a-cursor")


def test_iterators_stream_page_by_page(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL")
    pages = list(mdw.iter_pages("AAPL", start="2023-01-01", end="2024-12-31", page_size=100))
    assert [p.count for p in pages] == [100] * 5 + [2]  # 502 sessions
    assert all(p.next_cursor for p in pages[:-1]) and pages[-1].next_cursor is None

    stream = mdw.iter_bars("AAPL", start="2023-01-01", end="2024-12-31", page_size=100)
    first = next(stream)
    assert first.time == datetime(2023, 1, 3, 5, tzinfo=UTC)
    assert sum(1 for _ in stream) == 501


def test_max_bars_guards_instead_of_truncating(mdw: Client, aapl: int) -> None:
    window = {"start": "2024-01-01", "end": "2024-01-31"}
    assert len(mdw.bars("AAPL", max_bars=21, **window)) == 21
    with pytest.raises(MaxBarsExceededError, match="max_bars=20"):
        mdw.bars("AAPL", max_bars=20, **window)
    stream = mdw.iter_bars("AAPL", max_bars=5, **window)
    streamed = [next(stream).time for _ in range(5)]  # the first five arrive
    with pytest.raises(MaxBarsExceededError):
        next(stream)  # the sixth would break the guard
    assert len(streamed) == 5


def test_the_guard_asks_for_no_more_than_one_bar_over_it(
    client: TestClient, aapl: int, sleeps: Sleeps
) -> None:
    limits: list[str] = []

    def spy(request: Any) -> None:
        limits.append(request.url.params["limit"])

    client.event_hooks["request"].append(spy)
    with pytest.raises(MaxBarsExceededError):
        Client(http_client=client, sleep=sleeps).bars("AAPL", max_bars=3, start="2024-01-01")
    client.event_hooks["request"].remove(spy)
    assert limits == ["4"]


def test_progress_reports_the_share_of_the_range_done(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL")
    seed_series(conn, "MSFT")
    seen: list[Progress] = []
    mdw.bars(["AAPL", "MSFT"], start="2023-01-01", end="2024-12-31", page_size=100,
             on_progress=seen.append)  # fmt: skip
    assert [p.symbol for p in seen] == ["AAPL"] * 6 + ["MSFT"] * 6
    fractions = [p.fraction for p in seen]
    assert all(f is not None for f in fractions)
    assert fractions == sorted(fractions)  # type: ignore[type-var]
    assert 0.05 < fractions[0] < 0.15 and fractions[-1] > 0.99  # type: ignore[operator]
    assert seen[-1].bars == 2 * 502 and seen[-1].symbols_total == 2


def test_a_multiples_bars_say_how_many_stored_bars_each_holds(
    mdw: Client, client: TestClient, aapl: int
) -> None:
    window = {"start": "2024-01-01", "end": "2024-03-31"}
    served = client.get("/api/v1/historical/AAPL", params={"timeframe": "1mo", **window})
    sessions = [21, 20, 20]  # January to March 2024 (Presidents Day, Good Friday)
    assert [row["bars_in"] for row in served.json()["data"]] == sessions

    assert [bar.bars_in for bar in mdw.bars("AAPL", "1mo", **window)] == sessions
    page = mdw.multi_bar_page(["AAPL"], "1mo", **window)
    assert [bar.bars_in for bar in page.bars["AAPL"]] == sessions
    # A stored timeframe's bars carry none, as the rows of servers that never send it.
    daily = client.get("/api/v1/historical/AAPL", params=window).json()["data"]
    assert "bars_in" not in daily[0]
    assert {bar.bars_in for bar in mdw.bars("AAPL", "1d", **window)} == {None}
    assert Bar.from_json("AAPL", daily[0]) == mdw.bars("AAPL", "1d", **window)[0]


def test_latest_is_the_newest_bar_of_each_symbol(mdw: Client, conn: Connection[Any]) -> None:
    now = datetime.now(UTC)
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, now - timedelta(days=30), now)
    seed_series(conn, "AAPL", start=utc(2020, 1, 1), end=utc(2021, 1, 1))  # years ago
    add_symbols(conn, [("MSFT", AssetClass.STOCK)])  # tracked, no bars yet

    latest = mdw.latest(["BTC-USD", "AAPL", "MSFT", "ZZZZ"])

    assert [(b.symbol, b.time) for b in latest] == [
        ("BTC-USD", max(rows(conn, "BTC-USD", "1d"))),
        ("AAPL", max(rows(conn, "AAPL", "1d"))),
    ]
    assert [(m.symbol, m.reason) for m in latest.missing] == [
        ("MSFT", "no-data"),
        ("ZZZZ", "unknown-symbol"),
    ]


def test_adjustment_is_sent_only_when_given(client: TestClient, aapl: int, sleeps: Sleeps) -> None:
    sent: list[dict[str, str]] = []
    client.event_hooks["request"].append(lambda r: sent.append(dict(r.url.params)))
    mdw = Client(http_client=client, sleep=sleeps)
    mdw.bars("AAPL", start="2024-01-01", end="2024-01-05")
    mdw.bars("AAPL", start="2024-01-01", end="2024-01-05", adjustment="all")
    client.event_hooks["request"].clear()
    assert "adjustment" not in sent[0]
    assert sent[1]["adjustment"] == "all"
    assert sent[0] == {"timeframe": "1d", "start": "2024-01-01", "end": "2024-01-05",
                       "limit": "8000", "sort": "asc"}  # fmt: skip


def test_dates_and_datetimes_are_accepted_for_the_range(mdw: Client, aapl: int) -> None:
    as_text = mdw.bars("AAPL", start="2024-01-01", end="2024-01-31")
    as_dates = mdw.bars("AAPL", start=date(2024, 1, 1), end=date(2024, 1, 31))
    as_times = mdw.bars(
        "AAPL", start=datetime(2024, 1, 1), end=datetime(2024, 1, 31, 23, 59, tzinfo=UTC)
    )
    assert as_text == as_dates == as_times
