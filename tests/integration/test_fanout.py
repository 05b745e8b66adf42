"""The nightly fan-out against PostgreSQL and emulated SQS (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event
from market_data.planning import BackfillJob, rules_from_settings
from market_data.repositories.jobs import PostgresRunStore
from market_data.repositories.runs import latest_run
from market_data.repositories.symbols import add_symbols
from market_data.runs import launch_run
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import job_queue


@pytest.fixture
def fanout_handler(handlers: Any) -> ModuleType:
    fanout: ModuleType = handlers.fanout
    return fanout


@pytest.fixture
def count_send_calls(fanout_handler: ModuleType) -> Iterator[list[int]]:
    calls: list[int] = []

    def count(**kwargs: Any) -> None:
        calls.append(len(kwargs["params"]["Entries"]))

    config = fanout_handler.settings.get()
    events = fanout_handler._sqs(config.aws_endpoint_url).meta.events
    events.register("before-parameter-build.sqs.SendMessageBatch", count)
    yield calls
    events.unregister("before-parameter-build.sqs.SendMessageBatch", count)


@pytest.fixture
def constant_time_moto_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto recounts every stored message (visible? delayed?) for each message it
    accepts, because SendMessage reads the queue's attributes: 10,000 messages cost
    it ~50 million checks, minutes of CPU that real SQS never spends. While nothing
    is delayed or in flight these counters are simply the queue length."""
    from moto.sqs.models import Queue

    monkeypatch.setattr(
        Queue, "approximate_number_of_messages", property(lambda q: len(q._messages))
    )
    monkeypatch.setattr(Queue, "approximate_number_of_messages_delayed", property(lambda q: 0))
    monkeypatch.setattr(Queue, "approximate_number_of_messages_not_visible", property(lambda q: 0))


def queue_depth(queue_url: str) -> int:
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def receive_all(queue_url: str) -> list[BackfillJob]:
    sqs = boto3.client("sqs")
    jobs: list[BackfillJob] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        jobs.extend(BackfillJob.model_validate_json(m["Body"]) for m in messages)
    return jobs


def test_the_nightly_event_records_a_run_and_enqueues_one_job_per_series(
    fanout_handler: ModuleType, conn: Connection[Any], backfill_queue: str
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)], [Timeframe.D1])
    add_symbols(conn, [("SPY", AssetClass.ETF)], [Timeframe.D1, Timeframe.W1])
    conn.execute("INSERT INTO symbols (symbol, asset_class, active) VALUES ('OLD', 'stock', false)")

    result = fanout_handler.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())

    assert result["jobs"] == result["enqueued"] == 4 and result["not_enqueued"] == []
    jobs = receive_all(backfill_queue)
    assert {(j.symbol, j.timeframe) for j in jobs} == {
        ("AAPL", Timeframe.D1), ("BTC-USD", Timeframe.D1),
        ("SPY", Timeframe.D1), ("SPY", Timeframe.W1),
    }  # fmt: skip
    assert {str(j.run_id) for j in jobs} == {result["run_id"]}
    rows = conn.execute(
        "SELECT id, status, asset_class FROM backfill_jobs WHERE run_id = %s", (result["run_id"],)
    ).fetchall()
    assert {r[0] for r in rows} == {j.job_id for j in jobs}
    assert {r[1] for r in rows} == {"queued"}
    run = latest_run(conn)
    assert run is not None and run.trigger == "schedule" and run.jobs_total == 4 and run.running


def test_fanout_of_ten_thousand_symbols_takes_a_thousand_send_calls_and_seconds(
    fanout_handler: ModuleType,
    conn: Connection[Any],
    backfill_queue: str,
    count_send_calls: list[int],
    constant_time_moto_counters: None,
) -> None:
    add_symbols(conn, [(f"S{i:05d}", AssetClass.STOCK) for i in range(10_000)], [Timeframe.D1])

    result = fanout_handler.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())

    assert result["enqueued"] == 10_000
    assert len(count_send_calls) <= 1_000 and set(count_send_calls) == {10}
    assert queue_depth(backfill_queue) == 10_000
    count = conn.execute(
        "SELECT count(*) FROM backfill_jobs WHERE run_id = %s", (result["run_id"],)
    ).fetchone()
    assert count == (10_000,)


class FlakySender:
    """SQS that refuses some entries once (its fault) and one entry for good (ours)."""

    def __init__(self, retryable: int = 2) -> None:
        self.calls: list[list[str]] = []
        self.retryable = retryable
        self.poison: str | None = None

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any:
        ids = [e["Id"] for e in Entries]
        self.calls.append(ids)
        if len(self.calls) > 1:
            return {"Successful": [{"Id": i} for i in ids if i != self.poison], "Failed": []}
        self.poison = ids[-1]
        failed = [
            {"Id": i, "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for i in ids[: self.retryable]
        ]
        ours = {"SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad"}
        failed.append({"Id": self.poison, **ours})
        rejected = {f["Id"] for f in failed}
        return {"Successful": [{"Id": i} for i in ids if i not in rejected], "Failed": failed}


def test_entries_sqs_rejects_are_retried_and_those_it_never_takes_fail_their_jobs(
    settings: Settings, conn: Connection[Any]
) -> None:
    add_symbols(conn, [(f"S{i}", AssetClass.STOCK) for i in range(5)], [Timeframe.D1])
    sender = FlakySender()
    url = str(settings.database_url)

    launched = launch_run(
        rules_from_settings(settings),
        PostgresRunStore(lambda: psycopg.connect(url, autocommit=True)),
        job_queue(settings, sender, "https://sqs.example/queue"),
        trigger="cli",
    )

    assert len(sender.calls) == 2
    assert len(sender.calls[1]) == 2, "only the entries SQS failed on its side are resent"
    report = launched.report
    assert (report.sent, report.calls) == (4, 2)
    assert [u.job_id for u in report.unsent] == [sender.poison]
    status = dict(
        conn.execute(
            "SELECT id::text, status FROM backfill_jobs WHERE run_id = %s", (launched.run_id,)
        ).fetchall()
    )
    assert status.pop(str(sender.poison)) == "failed"
    assert set(status.values()) == {"queued"}


def test_a_run_with_nothing_to_do_is_recorded_as_finished(
    settings: Settings, conn: Connection[Any]
) -> None:
    url = str(settings.database_url)
    launched = launch_run(
        rules_from_settings(settings),
        PostgresRunStore(lambda: psycopg.connect(url, autocommit=True)),
        job_queue(settings, FlakySender(), "https://sqs.example/queue"),
        trigger="schedule",
    )

    assert launched.jobs == [] and launched.report.calls == 0
    run = latest_run(conn)
    assert run is not None and not run.running and run.jobs_total == 0
    finished = conn.execute(
        "SELECT finished_at IS NOT NULL FROM backfill_runs WHERE id = %s", (launched.run_id,)
    ).fetchone()
    assert finished == (True,)


def test_fanout_without_a_queue_url_fails_loudly(
    fanout_handler: ModuleType, handlers: Any, pipeline_settings: Settings
) -> None:
    handlers.use(pipeline_settings.model_copy(update={"backfill_queue_url": None}))
    with pytest.raises(ValueError, match="BACKFILL_QUEUE_URL"):
        fanout_handler.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())
