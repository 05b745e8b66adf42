"""The backfill worker end to end: SQS (moto) -> Lambda handler -> PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event
from devtools.run_backfill import drain_queue
from market_data.planning import BackfillJob
from market_data.repositories.jobs import get_job, record_run
from market_data.repositories.runs import latest_run
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.fake_polygon import FakePolygon, Reply, page
from tests.helpers import table_checksum, utc
from tests.pipeline import deliver, launch


@pytest.fixture
def backfill_handler(handlers: Any, pipeline_conn: Connection[Any]) -> ModuleType:
    backfill: ModuleType = handlers.backfill
    return backfill


@pytest.fixture
def polygon_env(
    fake_polygon: FakePolygon, handlers: Any, pipeline_settings: Settings
) -> FakePolygon:
    """The deployed configuration, pointed at the fake vendor (no retries inside a job)."""
    handlers.use(
        fake_polygon.settings(
            pipeline_settings, polygon_timeout_s=2, vendor_circuit_failure_threshold=100
        )
    )
    return fake_polygon


def emitted_metrics(output: str) -> dict[str, list[float]]:
    """Powertools metrics as printed (CloudWatch embedded metric format), summed per name."""
    totals: dict[str, list[float]] = {}
    for line in output.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for definition in blob["_aws"]["CloudWatchMetrics"]:
            for metric in definition["Metrics"]:
                values = blob[metric["Name"]]
                totals.setdefault(metric["Name"], []).extend(
                    values if isinstance(values, list) else [values]
                )
    return totals


def test_a_batch_with_a_poison_record_reports_only_that_record_and_commits_the_other(
    backfill_handler: ModuleType, pipeline_conn: Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("sqs_backfill_batch")
    good = BackfillJob.model_validate_json(event["Records"][0]["body"])
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)])
    record_run(pipeline_conn, good.run_id, "schedule", [good])

    result = backfill_handler.lambda_handler(event, FakeLambdaContext())

    poison = event["Records"][1]["messageId"]
    assert result == {"batchItemFailures": [{"itemIdentifier": poison}]}
    days = pipeline_conn.execute(
        "SELECT time FROM bars WHERE symbol = 'AAPL' AND timeframe = '1d' ORDER BY time"
    ).fetchall()
    assert [d[0].day for d in days] == [4, 5, 6, 7, 8]
    job = get_job(pipeline_conn, good.job_id)
    assert job is not None and job.status == "succeeded" and job.bars_upserted == 5
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["BarsUpserted"] == [5.0] and metrics["JobsSucceeded"] == [1.0]
    assert metrics["BackfillRunsCompleted"] == [1.0]
    assert metrics["VendorRequests"] == [0.0]  # the synthetic provider calls no vendor


def test_running_the_same_backfill_twice_leaves_the_table_byte_identical(
    backfill_handler: ModuleType, pipeline_conn: Connection[Any], pipeline_settings: Settings,
    backfill_queue: str,
) -> None:  # fmt: skip
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])
    options = {
        "symbols": ["AAPL", "BTC-USD"],
        "timeframes": [Timeframe.D1, Timeframe.H1, Timeframe.M15],
        "start": utc(2024, 1, 1),
        "end": utc(2024, 2, 15),
    }
    sqs = boto3.client("sqs")

    first_run = launch(pipeline_settings, **options)
    first = drain_queue(sqs, backfill_queue, backfill_handler.worker().process_message)
    checksum, stats = table_checksum(pipeline_conn), table_checksum(pipeline_conn, "series_stats")
    second_run = launch(pipeline_settings, **options)
    second = drain_queue(sqs, backfill_queue, backfill_handler.worker().process_message)

    assert len(first_run.jobs) == len(second_run.jobs) == 10  # 2 x (1d + 2 months x 2 intraday)
    assert first.succeeded == second.succeeded == 10
    assert first.bars_upserted > 5_000 and second.bars_upserted == 0
    assert table_checksum(pipeline_conn) == checksum
    assert table_checksum(pipeline_conn, "series_stats") == stats


def test_a_nightly_run_after_a_nightly_run_rewrites_nothing_that_did_not_change(
    backfill_handler: ModuleType, pipeline_conn: Connection[Any], pipeline_settings: Settings,
    backfill_queue: str,
) -> None:  # fmt: skip
    add_symbols(pipeline_conn, [("MSFT", AssetClass.STOCK), ("ETH-USD", AssetClass.CRYPTO)])
    short = pipeline_settings.model_copy(
        update={"initial_history_days_daily": 120, "initial_history_days_intraday": 10}
    )
    sqs = boto3.client("sqs")
    now = datetime(2024, 5, 7, 2, 0, tzinfo=UTC)

    launch(short, now=now)
    drain_queue(sqs, backfill_queue, backfill_handler.worker().process_message)
    checksum = table_checksum(pipeline_conn)
    again = launch(short, now=now)
    report = drain_queue(sqs, backfill_queue, backfill_handler.worker().process_message)

    # Incremental: each series restarts two bars before its last one, not from scratch.
    assert len(again.jobs) == 14 and all(j.end - j.start <= timedelta(weeks=3) for j in again.jobs)
    assert report.succeeded == 14 and report.bars_upserted == 0
    assert table_checksum(pipeline_conn) == checksum


def test_a_duplicate_delivery_of_a_finished_job_changes_nothing(
    backfill_handler: ModuleType, pipeline_conn: Connection[Any]
) -> None:
    event = load_event("sqs_backfill_batch")
    body = event["Records"][0]["body"]
    good = BackfillJob.model_validate_json(body)
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)])
    record_run(pipeline_conn, good.run_id, "schedule", [good])

    first = backfill_handler.worker().process_message(body)
    checksum = table_checksum(pipeline_conn)
    second = backfill_handler.worker().process_message(body)

    assert (first.outcome, second.outcome) == ("succeeded", "duplicate")
    assert table_checksum(pipeline_conn) == checksum
    job = get_job(pipeline_conn, good.job_id)
    assert job is not None and job.attempts == 1


def test_a_vendor_outage_sends_the_job_back_until_the_dlq_and_records_why(
    polygon_env: FakePolygon, backfill_handler: ModuleType, pipeline_conn: Connection[Any],
    pipeline_settings: Settings, backfill_queue: str,
) -> None:  # fmt: skip
    polygon_env.script("AAPL", Reply(503, {"status": "ERROR", "error": "down for maintenance"}))
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    [job] = launch(pipeline_settings, start=utc(2024, 3, 4), end=utc(2024, 3, 9)).jobs

    statuses = []
    for _ in range(5):
        failures = deliver(backfill_handler, backfill_queue)
        assert len(failures) == 1
        record = get_job(pipeline_conn, job.job_id)
        assert record is not None
        statuses.append(record.status)

    assert statuses == ["retrying"] * 4 + ["failed"]
    assert record.attempts == 5 and record.vendor_requests == 5
    assert "503" in (record.error or "") and "gave up after 5 deliveries" in (record.error or "")
    assert deliver(backfill_handler, backfill_queue) == []  # moto's redrive moved it on
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="backfill-dlq")["QueueUrl"]
    [dead] = sqs.receive_message(QueueUrl=dlq).get("Messages", [])
    assert BackfillJob.model_validate_json(dead["Body"]).job_id == job.job_id
    run = latest_run(pipeline_conn)
    assert run is not None and not run.running and run.jobs_failed == 1


def test_a_transient_failure_then_recovery_ends_succeeded_with_every_request_counted(
    polygon_env: FakePolygon, backfill_handler: ModuleType, pipeline_conn: Connection[Any],
    pipeline_settings: Settings, backfill_queue: str,
) -> None:  # fmt: skip
    bars = [
        {"t": int(utc(2024, 3, d, 5).timestamp() * 1000), "o": 10, "h": 11, "l": 9, "c": 10.5,
         "v": 1e6, "vw": 10.2, "n": 100}
        for d in range(4, 9)
    ]  # fmt: skip
    polygon_env.script("AAPL", Reply(502, "bad gateway"), Reply(body=page(bars)))
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    [job] = launch(pipeline_settings, start=utc(2024, 3, 4), end=utc(2024, 3, 9)).jobs

    assert len(deliver(backfill_handler, backfill_queue)) == 1
    assert deliver(backfill_handler, backfill_queue) == []

    record = get_job(pipeline_conn, job.job_id)
    assert record is not None
    # Two aggregates requests, then the splits and the dividends list (the daily job
    # of a stock refreshes its corporate actions): one request each.
    assert (record.status, record.attempts, record.vendor_requests, record.error) == (
        "succeeded", 2, 4, None,
    )  # fmt: skip
    assert pipeline_conn.execute("SELECT count(*) FROM bars").fetchone() == (5,)


def test_a_permanent_vendor_refusal_fails_the_job_without_a_batch_failure(
    polygon_env: FakePolygon, backfill_handler: ModuleType, pipeline_conn: Connection[Any],
    pipeline_settings: Settings, backfill_queue: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    polygon_env.script("AAPL", Reply(403, {"status": "NOT_AUTHORIZED", "message": "upgrade"}))
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    [job] = launch(pipeline_settings, start=utc(2024, 3, 4), end=utc(2024, 3, 9)).jobs

    assert deliver(backfill_handler, backfill_queue) == []
    assert deliver(backfill_handler, backfill_queue) == []  # consumed, not redelivered

    record = get_job(pipeline_conn, job.job_id)
    assert record is not None and record.status == "failed" and record.attempts == 1
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["JobsFailed"] == [1.0] and metrics["BackfillRunsCompleted"] == [1.0]
