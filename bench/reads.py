"""Reads across symbols: GET /api/v1/bars and /api/v1/latest through the Lambda handler,
and a multiple aggregated in SQL, each against its floor measured in the same run."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from bench.readpath import count_series_stats
from bench.stats import Row, Timing, measure
from devtools.lambda_context import FakeLambdaContext, load_event

LATEST_SYMBOLS = 1_000
DAILY_BARS = 252
MULTI_SYMBOLS = 100


def _name(i: int) -> str:
    return f"L{i:04d}"


def populate(conn: psycopg.Connection[Any]) -> None:
    """1,000 daily series of 252 bars (tracked, with their series statistics) added to
    the big table: the latest probe and the multi-symbol page read among its 10M rows."""
    have = conn.execute(
        "SELECT count(*) FROM series_stats WHERE symbol LIKE 'L%%' AND timeframe = '1d'"
    ).fetchone()
    if have and have[0] >= LATEST_SYMBOLS:
        return
    conn.execute(
        """
        INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume, vwap,
            trades, source, validated, quality_score, validation_notes, gap_detected,
            volume_anomaly, fetched_at)
        SELECT 'L' || lpad(s::text, 4, '0'), '1d',
               timestamptz '2020-01-02 05:00+00' + d * interval '1 day',
               100 + s, 101 + s, 99 + s, 100.5 + s, 100000 + d, 100.2 + s, 1200,
               'polygon', true, 1.0, NULL, false, false, now()
        FROM generate_series(1, %s) s, generate_series(0, %s - 1) d
        ON CONFLICT DO NOTHING
        """,
        (LATEST_SYMBOLS, DAILY_BARS),
    )
    conn.execute(
        "INSERT INTO symbols (symbol, asset_class) SELECT 'L' || lpad(s::text, 4, '0'), 'stock'"
        " FROM generate_series(1, %s) s ON CONFLICT DO NOTHING",
        (LATEST_SYMBOLS,),
    )
    # The series statistics the write path keeps (the load above bypassed it).
    count_series_stats(conn, "L%")
    conn.execute("ANALYZE bars")


def _event(path: str, params: dict[str, str]) -> dict[str, Any]:
    event = load_event("api_historical")
    event["path"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    return event


def _call(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    from api.handler import lambda_handler

    with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its metrics
        response: dict[str, Any] = lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"][:300]
    return response


def _judged(measure_label: str, value: Timing, floor: Timing, goal: str) -> Row:
    return Row.judged(
        "reads",
        f"{measure_label} p50 (p99 {value.p99 * 1000:.1f} ms)",
        value.p50 * 1000,
        floor.p50 * 1000,
        "ms",
        goal,
        value.p50 <= 2 * floor.p50,
    )


def _many_symbols(conn: psycopg.Connection[Any], runs: int, context: FakeLambdaContext) -> Row:
    """100 symbols x 252 daily bars: every page of GET /api/v1/bars (8,000 bars a page,
    the Lambda response limit) against the same statements run bare + orjson."""
    from market_data import history
    from market_data.calendar import nyse
    from market_data.corporate_actions import Adjustment
    from market_data.reads import MultiBarQuery, plan_read, reads_after
    from market_data.repositories.reads import read_multi_page, series_facts
    from market_data.timeframes import parse_bar_size

    symbols = ",".join(_name(i) for i in range(1, MULTI_SYMBOLS + 1))
    params = {"symbols": symbols, "start": "2020-01-01", "end": "2020-12-31", "limit": "8000"}

    def pages(check: bool = False) -> None:
        cursor: str | None = None
        total = 0
        while True:
            extra = {"cursor": cursor} if cursor else {}
            body = _call(_event("/api/v1/bars", {**params, **extra}), context)["body"]
            if check:
                total += orjson.loads(body)["count"]
            # The cursor is the body's last member: read it without parsing the page.
            found = re.search(r'"next_cursor":"([^"]+)"}$', body[-400:])
            cursor = found.group(1) if found else None
            if not cursor:
                break
        assert not check or total == MULTI_SYMBOLS * DAILY_BARS, total

    pages(check=True)

    size = parse_bar_size("1d")
    start, end = history.resolve_range(size, "2020-01-01", "2020-12-31", history.LATEST)
    names = tuple(_name(i) for i in range(1, MULTI_SYMBOLS + 1))
    query = MultiBarQuery(names, size, start, end, True, 0.85, 8000, adjustment=Adjustment.SPLIT)
    plan = plan_read(query, series_facts(conn, names), nyse())

    def floor() -> None:
        after = None
        while True:
            page = query if after is None else _after(query, after)
            rows = read_multi_page(conn, page, plan, reads_after(plan, page.after))
            orjson.dumps(rows[:8000], option=orjson.OPT_UTC_Z)
            if len(rows) <= 8000:
                return
            after = (rows[7999][0], rows[7999][1])

    return _judged(
        f"{MULTI_SYMBOLS} symbols x {DAILY_BARS} daily bars, every page (4 x 8,000)",
        measure(pages, runs),
        measure(floor, runs),
        "p50 <= 2x the same SQL + orjson",
    )


def _after(query: Any, after: tuple[str, datetime]) -> Any:
    from dataclasses import replace

    return replace(query, after=after)


def _latest(conn: psycopg.Connection[Any], runs: int, context: FakeLambdaContext) -> Row:
    """GET /api/v1/latest for every active symbol (1,000 daily series among the big
    table's rows) against the bare index probe per series + orjson."""
    event = _event("/api/v1/latest", {"timeframe": "1d", "adjustment": "raw"})

    def through_handler() -> None:
        body = orjson.loads(_call(event, context)["body"])
        assert len(body["latest"]) >= LATEST_SYMBOLS

    def floor() -> None:
        rows = conn.execute(
            # A probe per series (LIMIT 1 keeps it one: a join is flattened into a merge
            # join that walks the whole partition's key instead).
            "SELECT b.* FROM series_stats s CROSS JOIN LATERAL (SELECT * FROM bars b"
            " WHERE b.symbol = s.symbol AND b.timeframe = '1d' AND b.time = s.last_time"
            " LIMIT 1) b WHERE s.timeframe = '1d'"
        ).fetchall()
        orjson.dumps(rows, option=orjson.OPT_UTC_Z)

    return _judged(
        f"latest for {LATEST_SYMBOLS:,} symbols",
        measure(through_handler, runs),
        measure(floor, runs),
        "p50 <= 2x its SQL floor (one probe per series)",
    )


# The aggregation rules alone, as one would write them by hand for one series: the
# same output as the product's (first open, last close, extremes, sums, vwap by
# volume, lowest quality, flags OR-ed, sources and notes, parts counted).
_BARE_HOURLY = """
SELECT date_bin('1 hour', time, timestamptz '1970-01-01 00:00+00') AS hour,
       (array_agg(open ORDER BY time))[1], max(high), min(low),
       (array_agg(close ORDER BY time))[count(*)], sum(volume),
       sum(vwap * volume) FILTER (WHERE vwap IS NOT NULL)
           / nullif(sum(volume) FILTER (WHERE vwap IS NOT NULL), 0),
       sum(trades), min(source), bool_and(validated), min(quality_score),
       max(validation_notes), bool_or(gap_detected), bool_or(volume_anomaly),
       max(fetched_at), count(*)
FROM bars WHERE symbol = %s AND timeframe = '1m' AND time >= %s AND time < %s
GROUP BY 1 ORDER BY 1
"""


def _hourly_from_minutes(conn: psycopg.Connection[Any], runs: int) -> Row:
    """1h built from 1m bars over 30 days by the product's read (plan, adjusted SQL
    aggregate, JSON page) against the aggregate SQL alone. The bench symbol stores no
    1h series, and a stored timeframe is read as stored, so the read is planned with
    1h as a multiple directly."""
    from market_data import resample
    from market_data.calendar import nyse
    from market_data.reads import MultiBarQuery, ReadPlan, SeriesRead, page_body
    from market_data.repositories.reads import read_multi_page
    from market_data.timeframes import BarSize, SizeUnit, Timeframe

    start = datetime(2020, 1, 2, tzinfo=UTC)
    end = start + timedelta(days=30)
    size = BarSize(1, SizeUnit.HOUR)
    buckets = resample.buckets(size, start, end, around_the_clock=False, calendar=nyse())
    series = (SeriesRead("S0001", Timeframe.M1, False, buckets.start, buckets.end),)
    plan = ReadPlan(series, (), resampled=True, equity_buckets=buckets, crypto_buckets=buckets)
    query = MultiBarQuery(("S0001",), size, start, end, True, 0.85, 8000)
    parts = conn.execute(
        "SELECT count(*) FROM bars WHERE symbol = 'S0001' AND timeframe = '1m'"
        " AND time >= %s AND time < %s",
        (start, end),
    ).fetchone()

    def product() -> None:
        rows = read_multi_page(conn, query, plan, series)
        page_body(query, plan, rows, None, "", "")

    def floor() -> None:
        conn.execute(_BARE_HOURLY, ("S0001", start, end)).fetchall()

    return _judged(
        f"1h built from {parts[0] if parts else 0:,} 1m bars (30 days)",
        measure(product, runs),
        measure(floor, runs),
        "p50 <= 2x the aggregate SQL alone",
    )


def run(conn: psycopg.Connection[Any], runs: int) -> list[Row]:
    context = FakeLambdaContext()
    populate(conn)
    return [
        _many_symbols(conn, runs, context),
        _latest(conn, runs, context),
        _hourly_from_minutes(conn, runs),
    ]
