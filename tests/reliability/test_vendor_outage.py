"""A day-long vendor outage, simulated: the fake Polygon answers 503 to everything for 24
hours of a clock the test moves, through SQS (moto, the deployed redrive policy), the
backfill handler and PostgreSQL.

While the shared circuit is open a job's message is re-sent delayed until the circuit
may close (at most 15 minutes) instead of going back to the queue, so waiting spends no
delivery: after the vendor recovers every job succeeds and none is in the dead-letter
queue. A ticker that keeps failing after the recovery still ends there, with its reason.

SQS's DelaySeconds is played by the test: a delayed message is held and sent to moto
once the simulated clock reaches its time (moto would wait real seconds).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from psycopg import Connection

from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import build_worker
from tests.fake_polygon import FakePolygon, Reply, bar, page, utc
from tests.key_fakes import ManualClock
from tests.pipeline import deliver, launch
from tests.reliability.conftest import dead_letters

GOOD_TICKERS = ["AAPL", "MSFT", "SPY", "QQQ", "NVDA", "AMZN"]
BROKEN = "BRKN"  # fails for good, before and after the outage
MAX_RECEIVES = 5
THRESHOLD = 5
OPEN_S = 900
STEP = timedelta(minutes=15)
OUTAGE = timedelta(hours=24)
UNAVAILABLE = Reply(503, {"status": "ERROR", "error": "maintenance"})


def week(close: float) -> list[dict[str, Any]]:
    return [
        bar(utc(2024, 3, day, 5), close, close * 1.01, close * 0.99, close * 1.002, 1_000_000)
        for day in range(4, 9)
    ]


class DelayingSqs:
    """A boto3 SQS client whose delayed sends wait for the simulated clock."""

    def __init__(self, client: Any, clock: ManualClock) -> None:
        self._client, self._clock = client, clock
        self.held: list[tuple[datetime, dict[str, Any]]] = []
        self.delays: list[int] = []

    def send_message(self, **kwargs: Any) -> Any:
        delay = int(kwargs.pop("DelaySeconds", 0))
        if not delay:
            return self._client.send_message(**kwargs)
        self.delays.append(delay)
        self.held.append((self._clock.now + timedelta(seconds=delay), kwargs))
        return {"MessageId": "held"}

    def release_due(self) -> None:
        due = [kwargs for at, kwargs in self.held if at <= self._clock.now]
        self.held = [(at, kwargs) for at, kwargs in self.held if at > self._clock.now]
        for kwargs in due:
            self._client.send_message(**kwargs)


def visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def outage(
    backfill_queue: str,
    pipeline_conn: Connection[Any],
    fake_polygon: FakePolygon,
    pipeline_settings: Settings,
) -> Iterator[tuple[ModuleType, Settings, ManualClock, DelayingSqs]]:
    from backfill import handler

    sqs = boto3.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName="backfill-dlq")["QueueUrl"]
    settings = fake_polygon.settings(
        pipeline_settings,
        polygon_timeout_s=2.0,
        backfill_max_receive_count=MAX_RECEIVES,
        backfill_dlq_url=dlq_url,
        vendor_circuit_failure_threshold=THRESHOLD,
        vendor_circuit_open_s=OPEN_S,
    )
    clock = ManualClock(datetime.now(UTC))
    delaying = DelayingSqs(sqs, clock)
    handler.use_settings(settings, with_worker=build_worker(settings, delaying, clock=clock))
    yield handler, settings, clock, delaying
    handler.use_settings(None)


def test_a_day_long_vendor_outage_ends_with_every_job_succeeded_and_none_in_the_dlq(
    outage: tuple[ModuleType, Settings, ManualClock, DelayingSqs],
    pipeline_conn: Connection[Any],
    fake_polygon: FakePolygon,
    backfill_queue: str,
) -> None:
    handler, settings, clock, delaying = outage
    tickers = [*GOOD_TICKERS, BROKEN]
    add_symbols(pipeline_conn, [(t, AssetClass.STOCK) for t in tickers], [Timeframe.D1])
    for ticker in tickers:
        fake_polygon.script(ticker, UNAVAILABLE)
    launched = launch(settings, trigger="admin", start=utc(2024, 3, 4), end=utc(2024, 3, 9))
    assert len(launched.jobs) == len(tickers)
    sqs = boto3.client("sqs")
    started = clock.now
    recovered = False
    while clock.now < started + OUTAGE + timedelta(hours=6):
        if not recovered and clock.now >= started + OUTAGE:
            for n, ticker in enumerate(GOOD_TICKERS):
                fake_polygon.replace_script(ticker, Reply(body=page(week(100.0 + n))))
            recovered = True
        delaying.release_due()
        while visible(sqs, backfill_queue):
            deliver(handler, backfill_queue)
        open_jobs = pipeline_conn.execute(
            "SELECT count(*) FROM backfill_jobs WHERE status NOT IN ('succeeded', 'failed')"
        ).fetchone()
        if recovered and open_jobs == (0,) and not delaying.held:
            break
        clock.advance(seconds=STEP.total_seconds())

    jobs = dict(pipeline_conn.execute("SELECT symbol, status FROM backfill_jobs").fetchall())
    assert jobs == {**dict.fromkeys(GOOD_TICKERS, "succeeded"), BROKEN: "failed"}
    # Every good series has its week, once.
    counts = dict(
        pipeline_conn.execute("SELECT symbol, count(*) FROM bars GROUP BY symbol").fetchall()
    )
    assert counts == dict.fromkeys(GOOD_TICKERS, 5)
    # The waits were real waits, within SQS's limit, and many of them: the day was
    # spent waiting, not burning deliveries (a job reaches the DLQ after 5).
    assert delaying.delays and all(0 < d <= 900 for d in delaying.delays)
    assert len(delaying.delays) > 24 * 3600 / 900
    assert clock.now - started >= OUTAGE
    # Only the ticker that never recovered is in the dead-letter queue, with its reason.
    letters = [json.loads(body)["symbol"] for body in dead_letters()]
    assert letters == [BROKEN]
    error = pipeline_conn.execute(
        "SELECT error FROM backfill_jobs WHERE symbol = %s", (BROKEN,)
    ).fetchone()
    assert error is not None and "503" in error[0] and "message to the DLQ" in error[0]
    good_attempts = pipeline_conn.execute(
        "SELECT max(attempts) FROM backfill_jobs WHERE symbol <> %s", (BROKEN,)
    ).fetchone()
    assert good_attempts is not None and good_attempts[0] > MAX_RECEIVES  # waited, not spent
