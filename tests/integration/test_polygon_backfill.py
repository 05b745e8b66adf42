"""The Polygon client and the worker against a fake Polygon on loopback, down to PostgreSQL.

Every case runs a real job: fetch over HTTP (real sockets, urllib3 retries) ->
validate -> upsert, then checks the rows and the job's status.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests
from psycopg import Connection
from pydantic import AnyHttpUrl

from market_data.jobs import JobRecord
from market_data.planning import BackfillJob
from market_data.providers.polygon import PolygonClient, RequestPacer
from market_data.repositories.circuit import PostgresCircuitBreaker
from market_data.repositories.jobs import PostgresBackfillStore, get_job, record_run
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.worker import JobOutcome, Worker
from tests.fake_polygon import API_KEY, AUTHORIZATION, FakePolygon, Reply, bar, page, utc

DAY = timedelta(days=1)
MONDAY, SATURDAY = utc(2024, 3, 4), utc(2024, 3, 9)


def polygon_settings(settings: Settings, fake: FakePolygon, **overrides: Any) -> Settings:
    """Real retry machinery with waits measured in milliseconds."""
    values: dict[str, Any] = {
        "market_data_provider": "polygon",
        "polygon_base_url": AnyHttpUrl(fake.base_url),
        "polygon_api_key": API_KEY,
        "polygon_requests_per_minute": 60_000,
        "polygon_max_retries": 3,
        "polygon_backoff_factor_s": 0.01,
        "polygon_backoff_jitter_s": 0.01,
        "polygon_backoff_max_s": 0.05,
        "polygon_timeout_s": 0.3,
        "polygon_retry_after_max_s": 2,
        "vendor_circuit_failure_threshold": 3,
        "vendor_circuit_open_s": 300,
    }
    return settings.model_copy(update={**values, **overrides})


class Pipeline:
    """One worker wired to the fake vendor and the test database."""

    def __init__(self, conn: Connection[Any], settings: Settings) -> None:
        self.conn = conn
        self.settings = settings
        url = str(settings.database_url)

        def connect() -> Connection[Any]:
            return psycopg.connect(url, autocommit=True)

        self.worker = Worker(
            PolygonClient.from_settings(settings),
            PostgresBackfillStore(connect),
            PostgresCircuitBreaker(
                connect,
                "polygon",
                threshold=settings.vendor_circuit_failure_threshold,
                open_seconds=settings.vendor_circuit_open_s,
            ),
            settings.backfill_max_receive_count,
        )

    def job(
        self,
        symbol: str = "AAPL",
        asset_class: AssetClass = AssetClass.STOCK,
        timeframe: Timeframe = Timeframe.D1,
        start: datetime = MONDAY,
        end: datetime = SATURDAY,
    ) -> BackfillJob:
        add_symbols(self.conn, [(symbol, asset_class)])
        job = BackfillJob(
            job_id=uuid.uuid4(),
            run_id=uuid.uuid4(),
            symbol=symbol,
            asset_class=asset_class,
            timeframe=timeframe,
            start=start,
            end=end,
        )
        record_run(self.conn, job.run_id, "admin", [job])
        return job

    def run(self, job: BackfillJob, receive_count: int = 1) -> tuple[JobOutcome, JobRecord]:
        outcome = self.worker.run(job, receive_count)
        record = get_job(self.conn, job.job_id)
        assert record is not None
        return outcome, record

    def rows(self, symbol: str = "AAPL", timeframe: str = "1d") -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT time, open, high, low, close, volume, source, validated, validation_notes "
            "FROM bars WHERE symbol = %s AND timeframe = %s ORDER BY time",
            (symbol, timeframe),
        ).fetchall()


@pytest.fixture
def make_pipeline(
    pipeline_conn: Connection[Any], settings: Settings, fake_polygon: FakePolygon
) -> Callable[..., Pipeline]:
    def build(**overrides: Any) -> Pipeline:
        return Pipeline(pipeline_conn, polygon_settings(settings, fake_polygon, **overrides))

    return build


def week_of_bars(first_close: float = 100.0) -> list[dict[str, Any]]:
    """Daily stock bars for Mon 4 - Fri 8 March 2024, stamped at New York midnight."""
    bars, close = [], first_close
    for day in range(4, 9):
        at = utc(2024, 3, day, 5)  # 00:00 EST
        bars.append(bar(at, close, close * 1.01, close * 0.99, close * 1.002, 1_000_000))
        close *= 1.002
    return bars


def test_backfill_follows_next_url_and_sends_the_api_key_again(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    bars = week_of_bars()
    fake_polygon.script(
        "AAPL", Reply(body=page(bars[:2], cursor="page-2")), Reply(body=page(bars[2:]))
    )
    pipeline = make_pipeline()
    outcome, job = pipeline.run(pipeline.job())

    assert outcome.outcome == "succeeded" and not outcome.requeue
    assert job.status == "succeeded"
    assert (job.bars_fetched, job.bars_upserted, job.vendor_requests) == (5, 5, 2)
    first, second = fake_polygon.requests_for("AAPL")
    assert first.query["sort"] == "asc" and first.query["limit"] == "50000"
    assert second.query == {"cursor": "page-2"}  # the key is in no URL
    assert first.authorization == second.authorization == AUTHORIZATION
    rows = pipeline.rows()
    assert [r[0] for r in rows] == [utc(2024, 3, d, 5) for d in range(4, 9)]
    assert all(r[6] == "polygon" and r[7] for r in rows)


def test_backfill_retries_after_429_and_keeps_no_duplicates(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    bars = week_of_bars()
    fake_polygon.script(
        "AAPL",
        Reply(429, {"status": "ERROR", "error": "too many requests"}, {"Retry-After": "1"}),
        Reply(body=page([*bars, bars[1], bars[3]])),  # the vendor repeats two bars
    )
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded"
    assert job.vendor_requests == 2
    first, second = fake_polygon.requests_for("AAPL")
    assert second.at - first.at >= 0.95, "Retry-After: 1 was not honoured"
    assert job.bars_fetched == 7 and job.bars_upserted == 5
    assert len(pipeline.rows()) == 5


def test_backfill_retries_a_502_and_then_stores_the_bars(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script(
        "AAPL", Reply(502, "<html>Bad Gateway</html>"), Reply(body=page(week_of_bars()))
    )
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert (job.status, job.vendor_requests, job.error) == ("succeeded", 2, None)
    assert len(pipeline.rows()) == 5


def test_backfill_retries_a_read_timeout_and_then_succeeds(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(body=page([]), delay_s=1.0), Reply(body=page(week_of_bars())))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded" and job.vendor_requests == 2
    assert len(pipeline.rows()) == 5


def test_a_vendor_that_keeps_timing_out_sends_the_job_back_to_the_queue(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(body=page(week_of_bars()), delay_s=1.0))
    pipeline = make_pipeline(polygon_max_retries=2)
    outcome, job = pipeline.run(pipeline.job())

    assert outcome.outcome == "retrying" and outcome.requeue
    assert job.status == "retrying" and job.finished_at is None
    assert job.vendor_requests == 3  # the first try and two retries
    assert "Timeout" in (job.error or "")
    assert API_KEY not in (job.error or "")
    assert pipeline.rows() == []


@pytest.mark.parametrize("omit", [False, True], ids=["results-null", "results-absent"])
def test_no_results_means_no_bars_and_a_successful_job(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon, omit: bool
) -> None:
    fake_polygon.script("AAPL", Reply(body=page(None, omit_results=omit)))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert (job.status, job.bars_fetched, job.bars_upserted, job.vendor_requests) == (
        "succeeded", 0, 0, 1,
    )  # fmt: skip
    assert pipeline.rows() == []


def test_a_malformed_vendor_bar_is_skipped_and_counted_while_the_rest_are_stored(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    bars = week_of_bars()
    missing_close = {k: v for k, v in bars[1].items() if k != "c"}
    not_a_number = {**bars[2], "o": "n/a"}
    fake_polygon.script("AAPL", Reply(body=page([bars[0], missing_close, not_a_number, *bars[3:]])))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded"
    assert (job.bars_fetched, job.bars_rejected, job.bars_upserted) == (3, 2, 3)
    assert [r[0].day for r in pipeline.rows()] == [4, 7, 8]


def test_an_impossible_bar_is_stored_flagged_not_dropped(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    bars = week_of_bars()
    bars[2] = {**bars[2], "h": bars[2]["l"] * 0.5}  # high below low
    fake_polygon.script("AAPL", Reply(body=page(bars)))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded" and job.bars_flagged == 1
    rows = pipeline.rows()
    assert len(rows) == 5
    flagged = rows[2]
    assert flagged[7] is False and "high below low" in flagged[8]


def test_duplicate_and_out_of_order_bars_are_sorted_and_stored_once(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    bars = week_of_bars()
    revised = {**bars[2], "c": bars[2]["c"] * 1.001}  # the same bar again, revised
    shuffled = [bars[3], bars[0], bars[2], bars[4], bars[1], revised]
    fake_polygon.script("AAPL", Reply(body=page(shuffled)))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded" and job.bars_upserted == 5
    rows = pipeline.rows()
    assert [r[0].day for r in rows] == [4, 5, 6, 7, 8]
    assert rows[2][4] == pytest.approx(revised["c"])  # the later copy wins
    assert all(r[7] for r in rows)  # re-ordering did not fake a gap or an extreme move
    assert all(r[8] is None for r in rows)


def test_not_authorized_fails_the_job_for_good_without_retrying(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script(
        "AAPL",
        Reply(403, {"status": "NOT_AUTHORIZED", "message": "Your plan doesn't include this data"}),
    )
    pipeline = make_pipeline()
    outcome, job = pipeline.run(pipeline.job())

    assert outcome.outcome == "failed" and not outcome.requeue
    assert job.status == "failed" and job.finished_at is not None
    assert "NOT_AUTHORIZED" in (job.error or "")
    assert job.vendor_requests == 1 and len(fake_polygon.requests) == 1
    assert pipeline.rows() == []


def test_not_authorized_in_a_200_body_is_permanent_too(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(200, {"status": "NOT_AUTHORIZED", "message": "upgrade"}))
    pipeline = make_pipeline()
    outcome, job = pipeline.run(pipeline.job())

    assert (job.status, outcome.requeue) == ("failed", False)


def test_an_unknown_ticker_404_is_permanent(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    pipeline = make_pipeline()  # nothing scripted for the ticker: the fake answers 404
    outcome, job = pipeline.run(pipeline.job())

    assert (job.status, job.vendor_requests, outcome.requeue) == ("failed", 1, False)


def test_crypto_and_index_symbols_are_requested_with_polygon_tickers(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    crypto = [bar(utc(2024, 3, d), 60000, 61000, 59000, 60500, 1234.5) for d in range(4, 9)]
    vix = [{k: v for k, v in bar(utc(2024, 3, d, 5), 14, 15, 13, 14.5).items()
            if k not in ("v", "vw", "n")} for d in range(4, 9)]  # fmt: skip
    fake_polygon.script("X:BTCUSD", Reply(body=page(crypto, ticker="X:BTCUSD")))
    fake_polygon.script("I:VIX", Reply(body=page(vix, ticker="I:VIX")))
    pipeline = make_pipeline()
    _, btc_job = pipeline.run(pipeline.job("BTC-USD", AssetClass.CRYPTO))
    _, vix_job = pipeline.run(pipeline.job("VIX", AssetClass.INDEX))

    assert (btc_job.status, vix_job.status) == ("succeeded", "succeeded")
    assert {r.ticker for r in fake_polygon.requests} == {"X:BTCUSD", "I:VIX"}
    btc_rows = pipeline.rows("BTC-USD")
    assert len(btc_rows) == 5 and btc_rows[0][5] == 1234.5
    vix_rows = pipeline.rows("VIX")
    assert len(vix_rows) == 5 and all(r[5] == 0 and r[7] for r in vix_rows)


def test_long_intraday_ranges_are_requested_about_a_month_at_a_time(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(body=page([])))
    pipeline = make_pipeline()
    start, end = utc(2024, 1, 1), utc(2024, 4, 1)  # 91 days: windows of 30, 30, 30 and 1
    _, job = pipeline.run(pipeline.job(timeframe=Timeframe.M5, start=start, end=end))

    assert job.status == "succeeded" and job.vendor_requests == 4
    windows = [r.path.split("/")[-2:] for r in fake_polygon.requests]
    bounds = [(int(a), int(b)) for a, b in windows]
    assert bounds[0][0] == int(start.timestamp() * 1000)
    assert bounds[-1][1] == int(end.timestamp() * 1000) - 1
    assert all(b - a < 31 * 86_400_000 for a, b in bounds)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in itertools.pairwise(bounds))
    assert all("/range/5/minute/" in r.path for r in fake_polygon.requests)


def test_a_next_url_to_another_host_is_refused_and_never_gets_the_key(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    body = page(week_of_bars()[:2])
    body["next_url"] = "http://203.0.113.9/v2/aggs/ticker/AAPL/range/1/day/0/1?cursor=x"
    fake_polygon.script("AAPL", Reply(body=body))
    pipeline = make_pipeline()
    _, job = pipeline.run(pipeline.job())

    assert job.status == "failed" and "next_url" in (job.error or "")
    assert len(fake_polygon.requests) == 1
    assert pipeline.rows() == []


def test_a_redirect_to_another_host_arrives_without_the_key(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    elsewhere = FakePolygon()  # another port on loopback: another origin
    try:
        location = f"{elsewhere.base_url}/v2/aggs/ticker/AAPL/range/1/day/0/1"
        fake_polygon.script("AAPL", Reply(302, "", {"Location": location}))
        pipeline = make_pipeline()
        _, job = pipeline.run(pipeline.job())
    finally:
        elsewhere.close()

    assert [r.authorization for r in elsewhere.requests] == [None]
    assert job.status == "failed" and "401" in (job.error or "")


def test_the_fake_vendor_refuses_a_key_in_the_query_string(fake_polygon: FakePolygon) -> None:
    """The guard that makes every test here fail if the key slips back into URLs."""
    fake_polygon.script("AAPL", Reply(body=page(week_of_bars())))
    url = f"{fake_polygon.base_url}/v2/aggs/ticker/AAPL/range/1/day/0/1"
    headers = {"Authorization": AUTHORIZATION}

    assert requests.get(url, headers=headers, timeout=5).status_code == 200
    refused = requests.get(url, params={"apiKey": API_KEY}, headers=headers, timeout=5)
    assert refused.status_code == 400 and "Authorization header" in refused.text


def test_repeated_vendor_failures_open_the_shared_circuit_and_later_jobs_skip_the_vendor(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(503, {"status": "ERROR", "error": "maintenance"}))
    pipeline = make_pipeline(polygon_max_retries=1, vendor_circuit_failure_threshold=2)
    for _ in range(2):
        outcome, job = pipeline.run(pipeline.job())
        assert job.status == "retrying" and outcome.requeue
    calls_before = len(fake_polygon.requests)

    _, job = pipeline.run(pipeline.job())
    assert len(fake_polygon.requests) == calls_before, "an open circuit must not call the vendor"
    assert job.status == "retrying" and "circuit is open" in (job.error or "")
    assert job.vendor_requests == 0

    # The open period passes: the next job probes, succeeds and closes the circuit.
    pipeline.conn.execute("UPDATE vendor_circuit SET open_until = now() - interval '1 second'")
    fake_polygon.scripts["AAPL"] = [Reply(body=page(week_of_bars()))]
    _, job = pipeline.run(pipeline.job())
    assert job.status == "succeeded"
    state = pipeline.conn.execute(
        "SELECT consecutive_failures, open_until FROM vendor_circuit"
    ).fetchone()
    assert state == (0, None)


def test_the_last_delivery_fails_the_job_but_still_sends_the_message_to_the_dlq(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(502, "bad gateway"))
    pipeline = make_pipeline(polygon_max_retries=0)
    job = pipeline.job()
    outcome, record = pipeline.run(job, receive_count=4)
    assert (record.status, outcome.requeue) == ("retrying", True)

    outcome, record = pipeline.run(job, receive_count=5)
    assert (record.status, outcome.requeue) == ("failed", True)
    assert record.attempts == 2 and record.vendor_requests == 2
    assert "gave up after 5 deliveries" in (record.error or "")


def test_the_api_key_never_reaches_the_logs(
    make_pipeline: Callable[..., Pipeline],
    fake_polygon: FakePolygon,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_polygon.script("AAPL", Reply(502, "bad gateway"), Reply(body=page(week_of_bars())))
    pipeline = make_pipeline()
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        _, job = pipeline.run(pipeline.job())

    assert job.status == "succeeded"
    messages = [r.getMessage() for r in caplog.records]
    # urllib3 logged both attempts, so the search below is not blind.
    assert sum("/v2/aggs/ticker/AAPL/" in m and '" 502 ' in m for m in messages) == 1
    assert any("Incremented Retry" in m for m in messages)
    assert all(API_KEY not in m and "Bearer" not in m for m in messages)


def test_the_rate_limiter_spaces_requests_to_the_plan_rate() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RequestPacer(5, clock=lambda: now[0], sleep=sleep)  # the free plan
    for _ in range(6):
        limiter.acquire()

    assert now[0] == pytest.approx(5 * 12.0)  # one token at start, then one every 12 s
    assert all(w == pytest.approx(12.0) for w in waits)


def test_the_rate_limiter_paces_real_requests(
    make_pipeline: Callable[..., Pipeline], fake_polygon: FakePolygon
) -> None:
    fake_polygon.script("AAPL", Reply(body=page([])))
    # 10/s in bursts of 10, one-day windows: 12 requests, the last two wait for tokens.
    pipeline = make_pipeline(polygon_requests_per_minute=600, polygon_intraday_chunk_days=1)
    start, end = utc(2024, 1, 1), utc(2024, 1, 1) + 12 * DAY
    started = time.monotonic()
    _, job = pipeline.run(pipeline.job(timeframe=Timeframe.M5, start=start, end=end))
    assert job.status == "succeeded"
    assert time.monotonic() - started >= 0.15


def test_the_secret_is_read_from_secrets_manager_when_no_key_is_set(
    settings: Settings, fake_polygon: FakePolygon, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market_data.providers import polygon

    calls: list[str] = []

    def fake_get_secret(name: str, max_age: int | None = None) -> str:
        calls.append(name)
        return f"  {API_KEY}\n"

    monkeypatch.setattr("aws_lambda_powertools.utilities.parameters.get_secret", fake_get_secret)
    configured = polygon_settings(
        settings, fake_polygon, polygon_api_key=None, polygon_secret_arn="arn:secret:polygon"
    )
    fake_polygon.script("AAPL", Reply(body=page(week_of_bars())))
    client = polygon.PolygonClient.from_settings(configured)
    bars = client.fetch_bars(
        "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 3, 4), utc(2024, 3, 9)
    ).bars
    assert len(bars) == 5 and calls == ["arn:secret:polygon"]
