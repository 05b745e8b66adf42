"""Stuck jobs recover by themselves: a fan-out killed between recording its jobs and
sending them, and workers killed mid-job, through the real handlers, SQS (moto, the
deployed redrive policy) and PostgreSQL. The stuck-job check (the fan-out's scheduled
task, and every run) re-sends or fails what is past its bound, and the run completes
with every bar stored once.

Time passing is simulated by moving the jobs' timestamps back by the bound.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

import boto3
import pytest
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event
from market_data.providers.synthetic import SyntheticProvider
from market_data.queue import SqsJobQueue
from market_data.repositories.jobs import PostgresBackfillStore
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.validation import prepare
from tests.fake_polygon import utc
from tests.pipeline import deliver, launch
from tests.reliability.conftest import dead_letters

SYMBOLS = [("AAPL", AssetClass.STOCK), ("SPY", AssetClass.ETF), ("BTC-USD", AssetClass.CRYPTO)]
START, END = utc(2024, 3, 1), utc(2024, 3, 15)


class Killed(BaseException):
    """The process dies here: nothing after this line of it runs."""


@pytest.fixture
def short_visibility(backfill_queue: str) -> str:
    """A visibility timeout of 1 s, so a killed worker's batch comes back soon."""
    boto3.client("sqs").set_queue_attributes(
        QueueUrl=backfill_queue, Attributes={"VisibilityTimeout": "1"}
    )
    return backfill_queue


def counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def drain(handlers: Any, queue_url: str) -> None:
    """Deliver until the queue is empty; a killed worker's batch returns after its
    visibility timeout, as it does in SQS."""
    sqs = boto3.client("sqs")
    for _ in range(200):
        visible, in_flight = counts(sqs, queue_url)
        if not visible and not in_flight:
            return
        if not visible:
            time.sleep(0.3)
            continue
        with suppress(Killed):  # the batch comes back after its visibility timeout
            deliver(handlers.backfill, queue_url)
    raise AssertionError("the queue never drained")


def age_jobs(conn: Connection[Any], by: str) -> None:
    """As if `by` had passed since the jobs were recorded and last touched."""
    conn.execute(
        "UPDATE backfill_jobs SET created_at = created_at - %s::interval, "
        "updated_at = updated_at - %s::interval, "
        "enqueued_at = enqueued_at - %s::interval",
        (by, by, by),
    )


def check(handlers: Any) -> dict[str, Any]:
    result: dict[str, Any] = handlers.fanout.lambda_handler(
        load_event("schedule_stuck_check"), FakeLambdaContext()
    )
    return result


def assert_every_bar_once(conn: Connection[Any]) -> None:
    """The bars table holds exactly the bars of every job's range, as the vendor has them."""
    provider = SyntheticProvider()
    for symbol, asset_class in SYMBOLS:
        for timeframe in (Timeframe.D1, Timeframe.H1):
            expected = [
                b.time
                for b in prepare(
                    provider.fetch_bars(symbol, asset_class, timeframe, START, END).bars
                ).bars
            ]
            stored = [
                row[0]
                for row in conn.execute(
                    "SELECT time FROM bars WHERE symbol = %s AND timeframe = %s ORDER BY time",
                    (symbol, timeframe.value),
                ).fetchall()
            ]
            assert stored == expected and stored, (symbol, timeframe)


def run_state(conn: Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE r.finished_at IS NULL), "
        "(SELECT array_agg(DISTINCT status) FROM backfill_jobs) FROM backfill_runs r"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_fanout_killed_before_sending_and_a_worker_killed_mid_job_still_complete_the_run(
    handlers: Any,
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    short_visibility: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_symbols(pipeline_conn, SYMBOLS, [Timeframe.D1, Timeframe.H1])

    def dies(self: Any, jobs: Any) -> Any:
        raise Killed

    monkeypatch.setattr(SqsJobQueue, "send", dies)
    with pytest.raises(Killed):
        launch(pipeline_settings, trigger="admin", start=START, end=END)
    monkeypatch.undo()
    recorded = pipeline_conn.execute(
        "SELECT count(*) FROM backfill_jobs WHERE status = 'queued' AND enqueued_at IS NULL"
    ).fetchone()
    assert recorded == (6,)
    assert counts(boto3.client("sqs"), short_visibility) == (0, 0)

    # Within the bound nothing is touched: the fan-out may still be sending.
    assert check(handlers) == {"stuck_resent": 0, "stuck_failed": 0}
    age_jobs(pipeline_conn, "15 minutes")
    assert check(handlers) == {"stuck_resent": 6, "stuck_failed": 0}

    # A worker dies mid-job, after fetching and before its transaction commits.
    save = PostgresBackfillStore.save
    killed: list[str] = []

    def killed_once(self: Any, job: Any, bars: Any, job_counts: Any) -> int:
        if not killed:
            killed.append(job.symbol)
            raise Killed
        return save(self, job, bars, job_counts)

    monkeypatch.setattr(PostgresBackfillStore, "save", killed_once)
    drain(handlers, short_visibility)
    assert killed
    assert run_state(pipeline_conn) == (0, ["succeeded"])
    assert_every_bar_once(pipeline_conn)
    assert dead_letters() == []


def test_a_job_whose_worker_is_killed_on_every_delivery_is_resent_once_then_failed(
    handlers: Any,
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    short_visibility: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_symbols(pipeline_conn, SYMBOLS, [Timeframe.D1, Timeframe.H1])
    save = PostgresBackfillStore.save
    doomed = {"AAPL"}

    def killed_for_doomed(self: Any, job: Any, bars: Any, job_counts: Any) -> int:
        if job.symbol in doomed:
            raise Killed
        return save(self, job, bars, job_counts)

    monkeypatch.setattr(PostgresBackfillStore, "save", killed_for_doomed)
    launch(pipeline_settings, trigger="admin", start=START, end=END)
    drain(handlers, short_visibility)
    # The worker died with each of the batch's 5 deliveries (the batch of all six
    # jobs): the messages are in the DLQ, the jobs still `running`, and the run
    # could never complete by itself.
    assert len(dead_letters()) == 6
    assert run_state(pipeline_conn)[0] == 1

    # The next run re-sends them (the kills stopped: the worker was fixed) ...
    doomed.clear()
    age_jobs(pipeline_conn, "6 hours")
    nightly = handlers.fanout.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())
    assert (nightly["stuck_resent"], nightly["stuck_failed"]) == (6, 0)
    drain(handlers, short_visibility)
    statuses = pipeline_conn.execute(
        "SELECT status, count(*) FROM backfill_jobs GROUP BY status"
    ).fetchall()
    assert statuses == [("succeeded", 6 + nightly["jobs"])]
    assert run_state(pipeline_conn)[0] == 0

    # ... and a job stuck again after its re-send is failed, with the reason.
    pipeline_conn.execute(
        "UPDATE backfill_jobs SET status = 'running', "
        "error = 're-sent by the stuck-job check at 2026-01-01' WHERE id = "
        "(SELECT id FROM backfill_jobs WHERE symbol = 'SPY' AND timeframe = '1d' LIMIT 1)"
    )
    pipeline_conn.execute("UPDATE backfill_runs SET finished_at = NULL")
    age_jobs(pipeline_conn, "6 hours")
    assert check(handlers) == {"stuck_resent": 0, "stuck_failed": 1}
    error = pipeline_conn.execute(
        "SELECT status, error FROM backfill_jobs WHERE symbol = 'SPY' AND timeframe = '1d' "
        "AND status <> 'succeeded'"
    ).fetchall()
    assert len(error) == 1 and error[0][0] == "failed" and "re-sent once" in error[0][1]
