"""SQS failing under the nightly fan-out: transient errors are retried until every job
is enqueued exactly once; a refusal that does not pass is reported job by job
(failed, with the reason, in the database, the metrics and the handler's answer)
and the run still completes. Nothing is lost silently.

The faults are injected into the fan-out's own boto3 client on moto, so botocore's
retries and the fan-out's run first; their sleeps are skipped (recorded instead).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event
from market_data.planning import BackfillJob
from market_data.repositories.runs import latest_run
from market_data.repositories.symbols import add_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

JOBS = 25  # three SendMessageBatch calls of at most ten


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


class SqsFault:
    """SendMessageBatch fails: the first `transient` attempts with a 500, or every
    attempt with AccessDenied (`refuse`)."""

    def __init__(self, client: Any, *, transient: int = 0, refuse: bool = False) -> None:
        self.client, self.transient, self.refuse = client, transient, refuse
        self.attempts = self.failed = 0
        client.meta.events.register("before-send.sqs.SendMessageBatch", self._intercept)

    def _intercept(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.refuse:
            code, status = "AccessDeniedException", 400
        elif self.failed < self.transient:
            code, status = "InternalError", 500
        else:
            return None
        self.failed += 1
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": "injected"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Body(body))

    def close(self) -> None:
        self.client.meta.events.unregister("before-send.sqs.SendMessageBatch", self._intercept)


@pytest.fixture
def fanout_handler(handlers: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    handler: ModuleType = handlers.fanout
    sleeps: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time", SimpleNamespace(sleep=sleeps.append))
    monkeypatch.setattr("market_data.queue.time", SimpleNamespace(sleep=sleeps.append))
    return handler


def fanout_sqs(handler: ModuleType) -> Any:
    """The SQS client the fan-out Lambda sends with."""
    return handler._sqs(handler.settings.get().aws_endpoint_url)


@pytest.fixture
def nightly_universe(conn: Connection[Any]) -> None:
    add_symbols(conn, [(f"S{i:03d}", AssetClass.STOCK) for i in range(JOBS)], [Timeframe.D1])


def queued_jobs(queue_url: str) -> list[BackfillJob]:
    sqs = boto3.client("sqs")
    jobs: list[BackfillJob] = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        jobs.extend(BackfillJob.model_validate_json(m["Body"]) for m in messages)
    return jobs


def job_statuses(conn: Connection[Any], run_id: str) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT id::text, status, error FROM backfill_jobs WHERE run_id = %s", (run_id,)
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_sqs_errors_during_fanout_are_retried_until_every_job_is_enqueued_exactly_once(
    fanout_handler: ModuleType, nightly_universe: None, conn: Connection[Any], backfill_queue: str
) -> None:
    # Enough failures in a row that botocore gives up on at least one call (five
    # attempts) and the fan-out's own retry has to send that batch again.
    fault = SqsFault(fanout_sqs(fanout_handler), transient=7)
    try:
        result = fanout_handler.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())
    finally:
        fault.close()

    assert fault.failed == 7 and fault.attempts > 7
    assert result["jobs"] == result["enqueued"] == JOBS and result["not_enqueued"] == []
    assert result["send_calls"] > 3, "the fan-out itself retried a batch"
    jobs = queued_jobs(backfill_queue)
    assert len(jobs) == JOBS, "a job was lost or enqueued twice"
    statuses = job_statuses(conn, result["run_id"])
    assert sorted(str(j.job_id) for j in jobs) == sorted(statuses)
    assert {status for status, _ in statuses.values()} == {"queued"}


def test_a_queue_that_refuses_every_send_fails_each_job_with_the_reason_and_completes_the_run(
    fanout_handler: ModuleType,
    nightly_universe: None,
    conn: Connection[Any],
    backfill_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fault = SqsFault(fanout_sqs(fanout_handler), refuse=True)
    try:
        result = fanout_handler.lambda_handler(load_event("schedule_nightly"), FakeLambdaContext())
    finally:
        fault.close()

    attempts_per_batch = fanout_handler.settings.get().fanout_send_attempts
    assert fault.attempts == 3 * attempts_per_batch, (
        "a refusal is retried a bounded number of times"
    )
    assert result["enqueued"] == 0 and len(result["not_enqueued"]) == JOBS
    statuses = job_statuses(conn, result["run_id"])
    assert sorted(result["not_enqueued"]) == sorted(statuses)
    for status, error in statuses.values():
        assert status == "failed"
        assert error is not None and "not enqueued" in error and "AccessDenied" in error
    run = latest_run(conn)
    assert run is not None and not run.running and run.jobs_failed == JOBS
    assert queued_jobs(backfill_queue) == []
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    failed = [m["JobsFailed"] for m in metrics if "JobsFailed" in m]
    assert sum(sum(v) if isinstance(v, list) else v for v in failed) == JOBS
