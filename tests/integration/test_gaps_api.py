"""GET /api/v1/symbols/{symbol}/gaps finds the bars deleted at random, merged into ranges."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import recount_series_stats, seed_series, utc

PROBLEM = "application/problem+json"


def delete_at_random(
    conn: Connection[Any], symbol: str, timeframe: str, count: int, seed: int
) -> list[datetime]:
    times = stored_times(conn, symbol, timeframe)
    gone = sorted(random.Random(seed).sample(times, count))
    conn.execute(
        "DELETE FROM bars WHERE symbol = %s AND timeframe = %s AND time = ANY(%s)",
        (symbol, timeframe, gone),
    )
    recount_series_stats(conn)
    return gone


@pytest.mark.parametrize(
    ("symbol", "kind", "timeframe", "start", "end", "session"),
    [
        ("AAPL", AssetClass.STOCK, Timeframe.D1, utc(2023, 1, 1), utc(2025, 1, 1), "regular"),
        ("BTC-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 2, 1), "regular"),
        ("MSFT", AssetClass.STOCK, Timeframe.M5, utc(2024, 11, 25), utc(2024, 12, 3), "regular"),
        ("MSFT", AssetClass.STOCK, Timeframe.M15, utc(2024, 11, 25), utc(2024, 12, 3), "extended"),
        ("SPY", AssetClass.ETF, Timeframe.W1, utc(2020, 1, 1), utc(2024, 12, 30), "all"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_the_gap_report_finds_the_bars_deleted_at_random(
    client: TestClient,
    conn: Connection[Any],
    symbol: str,
    kind: AssetClass,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    session: str,
    seed: int,
) -> None:
    seed_series(conn, symbol, kind, timeframe, start, end)
    last_day = (end - timedelta(days=1)).date()  # the seeded range's end is exclusive
    params = {"timeframe": timeframe.value, "start": start.date().isoformat(),
              "end": last_day.isoformat(), "session": session}  # fmt: skip
    url = f"/api/v1/symbols/{symbol}/gaps"
    whole = client.get(url, params=params).json()
    # Synthetic bars fill every expected interval (extended hours included).
    assert whole["totals"]["missing"] == 0 and whole["gaps"] == []
    expected = whole["totals"]["expected"]
    assert expected == whole["totals"]["present"] > 20

    stored = stored_times(conn, symbol, timeframe.value)
    gone = delete_at_random(conn, symbol, timeframe.value, max(3, len(stored) // 25), seed)
    report = client.get(url, params=params).json()
    # The deleted bars the report expected are exactly the missing ones (the others were
    # outside the session asked for: they count in `unexpected` no more).
    unexpected_gone = whole["totals"]["unexpected"] - report["totals"]["unexpected"]
    assert report["totals"]["expected"] == expected
    assert report["totals"]["missing"] == len(gone) - unexpected_gone > 0
    assert sum(gap["bars"] for gap in report["gaps"]) == report["totals"]["missing"]
    remaining = stored_times(conn, symbol, timeframe.value)
    for gap in report["gaps"]:
        first, last = datetime.fromisoformat(gap["first"]), datetime.fromisoformat(gap["last"])
        assert first in gone and last in gone
        assert not any(first <= t <= last for t in remaining if t not in gone)
        # The missing bars a range covers: the deleted ones between its ends, minus the
        # deleted ones outside the session (not expected, so in no range).
        assert gap["bars"] <= sum(first <= t <= last for t in gone)
    covered = sum(sum(datetime.fromisoformat(g["first"]) <= t <= datetime.fromisoformat(g["last"])
                      for t in gone) for g in report["gaps"])  # fmt: skip
    assert covered >= report["totals"]["missing"]


def stored_times(conn: Connection[Any], symbol: str, timeframe: str) -> list[datetime]:
    return [r[0] for r in conn.execute(
        "SELECT time FROM bars WHERE symbol = %s AND timeframe = %s ORDER BY time",
        (symbol, timeframe),
    ).fetchall()]  # fmt: skip


def test_a_deleted_friday_and_monday_are_one_range(
    client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    conn.execute(
        "DELETE FROM bars WHERE symbol = 'AAPL' AND time::date IN ('2024-01-12', '2024-01-16')"
    )  # Friday, and Tuesday after Martin Luther King Jr. Day (a holiday)
    conn.execute("UPDATE bars SET validated = false WHERE time::date = '2024-01-22'")
    recount_series_stats(conn)
    report = client.get(
        "/api/v1/symbols/AAPL/gaps", params={"start": "2024-01-01", "end": "2024-01-31"}
    ).json()
    assert report["gaps"] == [
        {"first": "2024-01-12T05:00:00Z", "last": "2024-01-16T05:00:00Z", "bars": 2}
    ]
    assert report["totals"] == {"expected": 21, "present": 19, "missing": 2, "flagged": 1,
                                "gap_flagged": 0, "unexpected": 0}  # fmt: skip


def test_gaps_of_an_unknown_symbol_is_a_404_problem(
    client: TestClient, conn: Connection[Any]
) -> None:
    response = client.get("/api/v1/symbols/ZZZZ/gaps")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    bad = client.get("/api/v1/symbols/AAPL/gaps", params={"session": "night"})
    assert bad.status_code == 422 and "session" in bad.json()["detail"]
