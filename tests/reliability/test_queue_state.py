"""The queue's state is visible: /api/v1/metrics reports the backfill queue's depth
(visible, in flight, delayed) and the dead-letter queue's, read from SQS (moto with the
deployed redrive policy); it answers, fast, when SQS does not; and the dashboard
raises an alert on a non-empty dead-letter queue (its alert rules run under node).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from fastapi.testclient import TestClient

from api import queues
from market_data.settings import Settings

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"


@pytest.fixture
def queue_settings(pipeline_settings: Settings) -> Settings:
    dlq_url = boto3.client("sqs").get_queue_url(QueueName="backfill-dlq")["QueueUrl"]
    return pipeline_settings.model_copy(update={"backfill_dlq_url": dlq_url})


@pytest.fixture
def metrics_client(queue_settings: Settings, conn: psycopg.Connection[Any]) -> Iterator[TestClient]:
    from api.app import create_app

    queues.forget()
    with TestClient(create_app(queue_settings), raise_server_exceptions=False) as client:
        yield client
    queues.forget()


def test_metrics_report_the_backfill_queue_and_the_dead_letter_queue(
    metrics_client: TestClient, queue_settings: Settings
) -> None:
    body = metrics_client.get("/api/v1/metrics").json()
    assert body["queues"] == {
        "status": "available",
        "backfill": {"visible": 0, "in_flight": 0, "delayed": 0},
        "dead_letter": {"visible": 0},
    }
    sqs = boto3.client("sqs")
    queue_url, dlq_url = str(queue_settings.backfill_queue_url), queue_settings.backfill_dlq_url
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"job {n}")
    sqs.send_message(QueueUrl=queue_url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    sqs.send_message(QueueUrl=dlq_url, MessageBody="gave up")
    # Read again once the short cache has expired.
    queues.forget()
    body = metrics_client.get("/api/v1/metrics").json()
    assert body["queues"]["backfill"] == {"visible": 2, "in_flight": 1, "delayed": 1}
    assert body["queues"]["dead_letter"] == {"visible": 1}


def test_metrics_answer_quickly_when_sqs_cannot_be_reached(
    queue_settings: Settings, conn: psycopg.Connection[Any]
) -> None:
    from api.app import create_app

    unreachable = queue_settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    queues.forget()
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as client:
        started = time.monotonic()
        response = client.get("/api/v1/metrics")
        elapsed = time.monotonic() - started
    queues.forget()
    assert response.status_code == 200
    assert response.json()["queues"]["status"] == "unavailable"
    assert elapsed < 2.0


HARNESS = """
const anything = () => new Proxy(function () {}, {
  get: (t, p) => (p === Symbol.toPrimitive ? () => "" : anything()),
  apply: () => anything(), construct: () => anything(), set: () => true,
});
globalThis.location = { search: "", origin: "http://127.0.0.1" };
globalThis.localStorage = { getItem: () => null, setItem: () => {} };
globalThis.document = anything();
globalThis.window = anything();
globalThis.ResizeObserver = class { observe() {} };
const { buildAlerts } = await import("./app.js");
const metrics = JSON.parse(process.argv[2]);
console.log(JSON.stringify(buildAlerts(metrics, { symbols: [] })));
"""


def dashboard_alerts(tmp_path: Path, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's own alert rules (app.js buildAlerts) on a /metrics body."""
    for script in STATIC.glob("*.js"):
        shutil.copy(script, tmp_path / script.name)
    app = tmp_path / "app.js"
    source = app.read_text()
    assert source.rstrip().endswith("start();")
    app.write_text(source.rstrip().removesuffix("start();") + "export { buildAlerts };\n")
    (tmp_path / "harness.mjs").write_text(HARNESS)
    node = shutil.which("node")
    assert node, "node runs the CDK app and this test"
    result = subprocess.run(
        [node, "harness.mjs", json.dumps(metrics)],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    alerts: list[dict[str, Any]] = json.loads(result.stdout)
    return alerts


def test_the_dashboard_alerts_on_a_non_empty_dead_letter_queue(tmp_path: Path) -> None:
    healthy = {"health": {"database": "healthy"}, "scheduler": {"status": "running"}}
    empty = {**healthy, "queues": {"status": "available", "dead_letter": {"visible": 0}}}
    assert dashboard_alerts(tmp_path, empty) == []
    full = {**healthy, "queues": {"status": "available", "dead_letter": {"visible": 3}}}
    [alert] = dashboard_alerts(tmp_path, full)
    assert alert["level"] == "error" and "3 backfill jobs in the dead-letter queue" in alert["text"]
