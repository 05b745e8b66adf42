"""Many symbols a page, latest bars with their age, and gap reports through the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import Client, GapReport, MultiBarPage
from tests.client.support import rows
from tests.helpers import recount_series_stats, seed_series, utc


def test_multi_symbol_pages_carry_every_bar_once(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 7, 1))
    seed_series(conn, "MSFT", start=utc(2024, 3, 1), end=utc(2024, 7, 1))
    pages = list(
        mdw.iter_multi_pages(
            ["MSFT", "AAPL", "ZZZZ"], "1d", start="2024-01-01", end="2024-06-30", limit=40
        )
    )
    assert len(pages) > 3 and all(isinstance(p, MultiBarPage) for p in pages)
    got = [(s, b.time) for p in pages for s, bars in p.bars.items() for b in bars]
    assert got == [("AAPL", t) for t in rows(conn, "AAPL", "1d")] + [
        ("MSFT", t) for t in rows(conn, "MSFT", "1d")
    ]
    assert [(m.symbol, m.reason) for m in pages[0].missing] == [("ZZZZ", "unknown-symbol")]
    weekly = mdw.multi_bar_page(["AAPL"], "2w", start="2024-01-01", end="2024-03-31")
    assert weekly.timeframe == "2w" and len(weekly.bars["AAPL"]) == 7


def test_latest_page_says_how_old_each_bar_is(mdw: Client, conn: Connection[Any]) -> None:
    now = datetime.now(UTC)
    seed_series(conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.D1, now - timedelta(days=20),
                now - timedelta(days=3))  # fmt: skip
    page = mdw.latest_page(["ETH-USD"])
    (item,) = page.latest
    assert item.symbol == "ETH-USD" and item.sessions_missed >= 2
    assert item.age_hours == item.market_age_hours >= 48
    assert mdw.latest(["ZZZZ"]).missing[0].reason == "unknown-symbol"


def test_gap_report(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    conn.execute("DELETE FROM bars WHERE time::date = '2024-01-10'")
    recount_series_stats(conn)
    report = mdw.gaps("AAPL", start="2024-01-01", end="2024-01-31")
    assert isinstance(report, GapReport)
    assert report.totals.missing == 1 and report.totals.expected == 21
    assert [(g.first, g.bars) for g in report.gaps] == [(datetime(2024, 1, 10, 5, tzinfo=UTC), 1)]
