"""Polygon slow, flapping or sending garbage, through the whole path: SQS (moto, with
the deployed redrive policy) -> backfill handler -> fake Polygon on loopback ->
PostgreSQL. Retries stay bounded (per delivery and in deliveries), the job records
what happened, a job that never gets good data ends in the DLQ, and the bars
table holds each good bar exactly once - or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from psycopg import Connection

from market_data.jobs import JobRecord
from market_data.planning import BackfillJob
from market_data.repositories.jobs import get_job
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.fake_polygon import FakePolygon, Reply, bar, page, utc
from tests.pipeline import deliver, launch
from tests.reliability.conftest import dead_letters

MAX_RETRIES = 1  # urllib3 retries inside one delivery
MAX_RECEIVES = 5  # the queue's redrive policy (conftest's backfill_queue)
TIMEOUT_S = 0.3


def week_of_bars() -> list[dict[str, Any]]:
    """Daily bars for Mon 4 - Fri 8 March 2024, stamped at New York midnight."""
    closes = [100.0, 101.0, 100.5, 102.0, 101.5]
    return [
        bar(utc(2024, 3, day, 5), c, c * 1.01, c * 0.99, c * 1.002, 1_000_000)
        for day, c in zip(range(4, 9), closes, strict=True)
    ]


GOOD = Reply(body=page(week_of_bars()))
GARBAGE = Reply(200, "<html><body>502 Bad Gateway</body></html>")
TRUNCATED = Reply(200, '{"status":"OK","resultsCount":5,"results":[{"t":17095')
WRONG_SHAPE = Reply(200, '{"status":"OK","results":{"t":"soon"}}')
SLOW = Reply(body=page(week_of_bars()), delay_s=TIMEOUT_S * 2)
UNAVAILABLE = Reply(503, {"status": "ERROR", "error": "maintenance"})


@pytest.fixture
def backfill_handler(
    backfill_queue: str,
    pipeline_conn: Connection[Any],
    fake_polygon: FakePolygon,
    pipeline_settings: Settings,
) -> Iterator[ModuleType]:
    """The backfill Lambda as deployed (Polygon), pointed at the fake vendor."""
    from backfill import handler

    handler.use_settings(
        fake_polygon.settings(
            pipeline_settings,
            polygon_max_retries=MAX_RETRIES,
            polygon_timeout_s=TIMEOUT_S,
            polygon_backoff_factor_s=0.01,
            polygon_backoff_jitter_s=0.01,
            polygon_backoff_max_s=0.05,
            backfill_max_receive_count=MAX_RECEIVES,
            # The shared circuit breaker has tests of its own; here every delivery calls out.
            vendor_circuit_failure_threshold=1000,
        )
    )
    yield handler
    handler.use_settings(None)


def launch_one_job(settings: Settings, conn: Connection[Any]) -> BackfillJob:
    add_symbols(conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    launched = launch(
        settings, trigger="admin", symbols=["AAPL"], start=utc(2024, 3, 4), end=utc(2024, 3, 9)
    )
    [job] = launched.jobs
    return job


def stored_bars(conn: Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT time, open, high, low, close, volume FROM bars "
        "WHERE symbol = 'AAPL' AND timeframe = '1d' ORDER BY time"
    ).fetchall()


def expected_bars() -> list[tuple[Any, ...]]:
    return [
        (utc(2024, 3, 4 + i, 5), b["o"], b["h"], b["l"], b["c"], b["v"])
        for i, b in enumerate(week_of_bars())
    ]


@dataclass(frozen=True)
class Hopeless:
    replies: tuple[Reply, ...]
    requests_per_delivery: int
    error: str


HOPELESS = {
    "an HTML page with status 200": Hopeless((GARBAGE,), 1, "not an aggregates page"),
    "truncated JSON": Hopeless((TRUNCATED,), 1, "not an aggregates page"),
    "results of the wrong shape": Hopeless((WRONG_SHAPE,), 1, "not an aggregates page"),
    "answers slower than the timeout": Hopeless((SLOW,), MAX_RETRIES + 1, "unreachable"),
    "503 on every attempt": Hopeless((UNAVAILABLE,), MAX_RETRIES + 1, "503"),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=n) for n, c in HOPELESS.items()])
def test_a_vendor_that_never_gives_good_data_sends_the_job_to_the_dlq_with_bounded_retries(
    backfill_handler: ModuleType,
    fake_polygon: FakePolygon,
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    backfill_queue: str,
    case: Hopeless,
) -> None:
    fake_polygon.script("AAPL", *case.replies)
    job = launch_one_job(pipeline_settings, pipeline_conn)

    statuses = []
    for _ in range(MAX_RECEIVES):
        assert len(deliver(backfill_handler, backfill_queue)) == 1
        record = get_job(pipeline_conn, job.job_id)
        assert record is not None
        statuses.append(record.status)
    assert deliver(backfill_handler, backfill_queue) == [], "the redrive policy moved it on"

    assert statuses == ["retrying"] * (MAX_RECEIVES - 1) + ["failed"]
    assert len(fake_polygon.requests) == MAX_RECEIVES * case.requests_per_delivery
    assert record.attempts == MAX_RECEIVES
    assert record.vendor_requests == MAX_RECEIVES * case.requests_per_delivery
    assert case.error in (record.error or "") and "gave up after 5 deliveries" in (
        record.error or ""
    )
    assert [BackfillJob.model_validate_json(b).job_id for b in dead_letters()] == [job.job_id]
    assert stored_bars(pipeline_conn) == [], "no bar may come from a bad answer"


def run_until_settled(handler: ModuleType, queue_url: str, job_id: Any, conn: Any) -> JobRecord:
    for _ in range(MAX_RECEIVES + 1):
        if not deliver(handler, queue_url):
            break
    record = get_job(conn, job_id)
    assert record is not None
    return record


FLAPPING = {
    "503, then garbage, then good": (UNAVAILABLE, GARBAGE, UNAVAILABLE, GOOD),
    "slow, then truncated, then good": (SLOW, SLOW, TRUNCATED, GOOD),
    "good, then garbage forever": (GOOD, GARBAGE),
}


@pytest.mark.parametrize("replies", [pytest.param(r, id=n) for n, r in FLAPPING.items()])
def test_a_flapping_vendor_ends_with_every_bar_stored_once_and_the_job_succeeded(
    backfill_handler: ModuleType,
    fake_polygon: FakePolygon,
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    backfill_queue: str,
    replies: tuple[Reply, ...],
) -> None:
    fake_polygon.script("AAPL", *replies)
    job = launch_one_job(pipeline_settings, pipeline_conn)

    record = run_until_settled(backfill_handler, backfill_queue, job.job_id, pipeline_conn)

    assert record.status == "succeeded"
    assert record.bars_upserted == 5 and record.bars_rejected == 0
    # Every request counted (the splits and dividends lists too); aggregates bounded.
    assert record.vendor_requests == len(fake_polygon.requests)
    assert len(fake_polygon.requests_for("AAPL")) <= len(replies)
    assert stored_bars(pipeline_conn) == expected_bars()
    assert dead_letters() == []
    # A duplicate delivery of the finished job (SQS is at-least-once) changes nothing.
    boto3.client("sqs").send_message(QueueUrl=backfill_queue, MessageBody=job.model_dump_json())
    assert deliver(backfill_handler, backfill_queue) == []
    assert stored_bars(pipeline_conn) == expected_bars()
    assert len(fake_polygon.requests) == record.vendor_requests
