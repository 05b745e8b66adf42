"""Multiples aggregated in SQL equal an independent computation from the stored parts.

The reference below groups the raw parts itself, from the alignment rules as the
docs state them (UTC multiples; N sessions or UTC days counted from 1970; weeks
from Monday 1970-01-05; months from January), and aggregates them in Python.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import Connection

from market_data.calendar import NEW_YORK, nyse
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import recount_series_stats, seed_series, utc

URL = "/api/v1/bars"
INTRADAY_FROM, INTRADAY_TO = utc(2024, 3, 7), utc(2024, 3, 13)  # across the DST change
DAILY_FROM, DAILY_TO = utc(2022, 1, 1), utc(2025, 1, 1)
SERIES = (("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO))
FLOATS = ("open", "high", "low", "close", "volume", "vwap")


@cache
def all_sessions() -> list[date]:
    return list(nyse().sessions(date(1970, 1, 1), date(2100, 12, 31)))


@cache
def session_index() -> dict[date, int]:
    return {day: i for i, day in enumerate(all_sessions())}


def midnight(day: date, crypto: bool) -> datetime:
    return datetime.combine(day, time(0), UTC if crypto else NEW_YORK).astimezone(UTC)


def month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def bucket(at: datetime, unit: str, n: int, crypto: bool) -> tuple[datetime, datetime]:
    """[start, end) of the bucket holding a part stamped `at`."""
    if unit in ("m", "h"):
        step = n * (60 if unit == "m" else 3600)
        low = int(at.timestamp()) // step * step
        return datetime.fromtimestamp(low, UTC), datetime.fromtimestamp(low + step, UTC)
    day = at.astimezone(UTC if crypto else NEW_YORK).date()
    if unit == "d" and crypto:
        g = (day - date(1970, 1, 1)).days // n
        first = date(1970, 1, 1) + timedelta(days=g * n)
        return midnight(first, crypto), midnight(first + timedelta(days=n), crypto)
    if unit == "d":
        g = session_index()[day] // n
        sessions = all_sessions()
        return midnight(sessions[g * n], crypto), midnight(sessions[(g + 1) * n], crypto)
    if unit == "w":
        monday = day - timedelta(days=day.weekday())
        g = (monday - date(1970, 1, 5)).days // 7 // n
        first = date(1970, 1, 5) + timedelta(weeks=g * n)
        return midnight(first, crypto), midnight(first + timedelta(weeks=n), crypto)
    g = (day.year * 12 + day.month - 1) // n
    return midnight(month_start(g * n), crypto), midnight(month_start((g + 1) * n), crypto)


def in_regular_hours(at: datetime, length: timedelta) -> bool:
    day = at.astimezone(NEW_YORK).date()
    if not nyse().is_session(day):
        return False
    opens, closes = nyse().session_bounds(day)
    return opens <= at and at + length <= closes


def reference(
    parts: list[dict[str, Any]],
    unit: str,
    n: int,
    crypto: bool,
    start: datetime,
    end: datetime,
    daily_stamps: bool,
) -> list[dict[str, Any]]:
    groups: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    ends: dict[datetime, datetime] = {}
    for part in parts:
        low, high = bucket(part["time"], unit, n, crypto)
        groups[low].append(part)
        ends[low] = high
    wanted: set[datetime] = set()
    if daily_stamps:
        # A daily-based bucket is returned when the bar time of one of its days (its
        # sessions, for Nd of a stock) falls in the range.
        day = start.astimezone(UTC if crypto else NEW_YORK).date() - timedelta(days=1)
        while midnight(day, crypto) < end:
            counts = crypto or unit != "d" or day in session_index()
            if counts and midnight(day, crypto) >= start:
                wanted.add(bucket(midnight(day, crypto), unit, n, crypto)[0])
            day += timedelta(days=1)
    out = []
    for low in sorted(groups):
        if (low not in wanted) if daily_stamps else not (low < end and ends[low] > start):
            continue
        bars = sorted(groups[low], key=lambda p: p["time"])
        weighted = [p for p in bars if p["vwap"] is not None]
        volume = sum(p["volume"] for p in weighted)
        trades = [p["trades"] for p in bars if p["trades"] is not None]
        notes = sorted({p["validation_notes"] for p in bars if p["validation_notes"]})
        out.append(
            {
                "time": low,
                "open": bars[0]["open"],
                "high": max(p["high"] for p in bars),
                "low": min(p["low"] for p in bars),
                "close": bars[-1]["close"],
                "volume": sum(p["volume"] for p in bars),
                "vwap": sum(p["vwap"] * p["volume"] for p in weighted) / volume if volume else None,
                "trades": sum(trades) if trades else None,
                "source": ",".join(sorted({p["source"] for p in bars})),
                "validated": all(p["validated"] for p in bars),
                "quality_score": min(p["quality_score"] for p in bars),
                "validation_notes": "; ".join(notes) or None,
                "gap_detected": any(p["gap_detected"] for p in bars),
                "volume_anomaly": any(p["volume_anomaly"] for p in bars),
                "fetched_at": max(p["fetched_at"] for p in bars),
                "bars_in": len(bars),
            }
        )
    return out


def stored_parts(conn: Connection[Any], symbol: str, timeframe: str) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT time, open, high, low, close, volume, vwap, trades, source, validated,"
        " quality_score, validation_notes, gap_detected, volume_anomaly, fetched_at"
        " FROM bars WHERE symbol = %s AND timeframe = %s ORDER BY time",
        (symbol, timeframe),
    )
    names = [c.name for c in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def warehouse(conn: Connection[Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Minute and daily bars of a stock and a pair; some parts flagged, to aggregate flags."""
    for symbol, kind in SERIES:
        seed_series(conn, symbol, kind, Timeframe.M1, INTRADAY_FROM, INTRADAY_TO)
        seed_series(conn, symbol, kind, Timeframe.D1, DAILY_FROM, DAILY_TO)
    conn.execute(
        "UPDATE bars SET quality_score = 0.9, gap_detected = true, validation_notes = 'gap'"
        " WHERE extract(minute FROM time)::int % 17 = 3"
    )
    conn.execute(
        "UPDATE bars SET volume_anomaly = true, validation_notes = 'volume'"
        " WHERE extract(minute FROM time)::int % 29 = 7"
    )
    recount_series_stats(conn)
    return {
        (symbol, timeframe): stored_parts(conn, symbol, timeframe)
        for symbol, _ in SERIES
        for timeframe in ("1m", "1d")
    }


def fetch(client: TestClient, params: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    response = client.get(URL, params={"symbols": "AAPL,BTC-USD", "adjustment": "raw",
                                       "validated_only": "false", "min_quality": 0, "limit": 8000,
                                       **params})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return dict(body["bars"])


def check(
    got: dict[str, list[dict[str, Any]]],
    parts: dict[tuple[str, str], list[dict[str, Any]]],
    unit: str,
    n: int,
    start: datetime,
    end: datetime,
    regular: bool = False,
) -> None:
    intraday = unit in ("m", "h")
    for symbol, kind in SERIES:
        crypto = kind is AssetClass.CRYPTO
        source = parts[(symbol, "1m" if intraday else "1d")]
        if regular and not crypto:
            source = [p for p in source if in_regular_hours(p["time"], timedelta(minutes=1))]
        expected = reference(source, unit, n, crypto, start, end, daily_stamps=not intraday)
        mine = got.get(symbol, [])
        assert [b["time"] for b in mine] == [
            e["time"].isoformat().replace("+00:00", "Z") for e in expected
        ], (symbol, f"{n}{unit}")
        for bar, want in zip(mine, expected, strict=True):
            for key, value in want.items():
                if key == "time":
                    continue
                if key == "fetched_at":
                    assert datetime.fromisoformat(bar[key]) == value
                elif key in FLOATS and value is not None:
                    assert bar[key] == pytest.approx(value, rel=1e-9), (symbol, key)
                elif key == "bars_in" and f"{n}{unit}" in {t.value for t in Timeframe}:
                    assert "bars_in" not in bar or bar["bars_in"] is None
                else:
                    assert bar[key] == value, (symbol, key)


SIZES = st.one_of(
    st.tuples(st.integers(2, 59).filter(lambda n: n not in (5, 15, 30)), st.just("m")),
    st.tuples(st.integers(2, 23).filter(lambda n: n != 4), st.just("h")),
    st.tuples(st.integers(2, 252), st.just("d")),
    st.tuples(st.integers(2, 52), st.just("w")),
    st.tuples(st.sampled_from([1, 2, 3, 4, 6, 12]), st.just("mo")),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=SIZES, offset=st.integers(0, 4 * 1440), length=st.integers(1, 3 * 1440),
       day_offset=st.integers(0, 900), days=st.integers(1, 700), regular=st.booleans())  # fmt: skip
def test_resampled_bars_equal_an_independent_computation_from_their_parts(
    client: TestClient,
    warehouse: dict[tuple[str, str], list[dict[str, Any]]],
    size: tuple[int, str],
    offset: int,
    length: int,
    day_offset: int,
    days: int,
    regular: bool,
) -> None:
    n, unit = size
    if unit in ("m", "h"):
        start = INTRADAY_FROM + timedelta(minutes=offset)
        end = start + timedelta(minutes=length)
    else:
        start = DAILY_FROM + timedelta(days=day_offset, hours=offset % 24)
        end = start + timedelta(days=days)
        regular = False  # session applies to intraday bars only
    params = {"timeframe": f"{n}{unit}", "start": start.isoformat(),
              "end": (end - timedelta(microseconds=1)).isoformat()}  # fmt: skip
    if regular:
        params["session"] = "regular"
    check(fetch(client, params), warehouse, unit, n, start, end, regular)


def test_every_allowed_multiple_equals_the_independent_computation(
    client: TestClient, warehouse: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    intraday = (utc(2024, 3, 8, 3, 17), utc(2024, 3, 11, 20, 41))
    daily = (utc(2023, 2, 3), utc(2024, 11, 20))
    sizes = [(n, "m") for n in range(1, 60)] + [(n, "h") for n in range(1, 24)]
    sizes += [(n, "d") for n in range(2, 253)] + [(n, "w") for n in range(2, 53)]
    sizes += [(n, "mo") for n in (1, 2, 3, 4, 6, 12)]
    # 5m, 15m, 30m, 1h and 4h are stored timeframes: read as stored, never built, and
    # these symbols store none of them (tests/integration/test_multi_bars_api.py reads them).
    stored = {t.value for t in Timeframe} - {"1m"}
    for n, unit in sizes:
        if f"{n}{unit}" in stored:
            continue
        start, end = intraday if unit in ("m", "h") else daily
        got = fetch(client, {"timeframe": f"{n}{unit}", "start": start.isoformat(),
                             "end": (end - timedelta(microseconds=1)).isoformat()})  # fmt: skip
        check(got, warehouse, unit, n, start, end)


def test_a_multiple_is_built_from_the_finest_stored_series_that_divides_it(
    client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "KO", AssetClass.STOCK, Timeframe.M15, utc(2024, 3, 4), utc(2024, 3, 8))
    seed_series(conn, "KO", AssetClass.STOCK, Timeframe.H1, utc(2024, 3, 4), utc(2024, 3, 8))
    params = {"symbols": "KO", "start": "2024-03-04", "end": "2024-03-07"}
    two_hours = client.get(URL, params={**params, "timeframe": "2h"}).json()["bars"]["KO"]
    # 15-minute parts (8 a bucket; 4 where extended hours begin or end mid-bucket), not hourly.
    assert {bar["bars_in"] for bar in two_hours} == {4, 8}
    seven = client.get(URL, params={**params, "timeframe": "7m"}).json()
    assert seven.get("status") == 404 or seven["missing"][0]["reason"] == "no-timeframe"
