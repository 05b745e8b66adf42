"""The lake and the exports under `make dev`: buckets in moto's S3, mirrored to .local/lake.

moto's S3 lives as long as make dev does; the lake's objects are also written to
`.local/lake/` (the same keys as files), which `make sql` reads with DuckDB, and
which is uploaded back into moto's fresh bucket at the next start. The export
queue is consumed in-process, as the export Lambda's event source would.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3

from market_data.lake import BARS_PREFIX, LakeReport
from market_data.lake_s3 import restore_mirror
from market_data.settings import Settings
from market_data.wiring import lake_queue, lake_writer
from market_data.worker import JobOutcome

ROOT = Path(__file__).resolve().parents[1]
LAKE_DIR = ROOT / ".local" / "lake"
LAKE_BUCKET = "mdw-lake"
EXPORTS_BUCKET = "mdw-exports"
EXPORT_QUEUE = "mdw-exports"


def prepare_lake(settings: Settings, lake_dir: Path = LAKE_DIR) -> Settings:
    """Create the buckets and the export queue in moto; put the mirrored lake back in."""
    s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url)
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (LAKE_BUCKET, EXPORTS_BUCKET):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    lake_dir.mkdir(parents=True, exist_ok=True)
    restore_mirror(s3, LAKE_BUCKET, lake_dir)
    queue_url = sqs.create_queue(QueueName=EXPORT_QUEUE)["QueueUrl"]
    return settings.model_copy(
        update={
            "lake_bucket": LAKE_BUCKET,
            "exports_bucket": EXPORTS_BUCKET,
            "export_queue_url": queue_url,
            "lake_mirror_dir": str(lake_dir),
        }
    )


def write_lake(settings: Settings, run_id: uuid.UUID) -> LakeReport:
    """The run's partitions; every partition when the lake holds none yet (a first start,
    or a warehouse older than its lake)."""
    writer = lake_writer(settings, boto3.client("s3", endpoint_url=settings.aws_endpoint_url))
    mirror = Path(str(settings.lake_mirror_dir))
    empty = not any((mirror / BARS_PREFIX).rglob("*.parquet"))
    report = writer.rebuild() if empty else writer.write_run(run_id)
    print(
        f"  lake: {report.partitions} partitions, {report.rows:,} bars written to "
        f"s3://{settings.lake_bucket} (and {mirror}) in {report.seconds:.1f}s"
    )
    return report


def request_lake_write(settings: Settings, outcome: JobOutcome | None) -> None:
    """After a run's last job (a nightly or on-demand run while make dev is up)."""
    if outcome is None or not outcome.run_completed:
        return
    queue = lake_queue(settings, boto3.client("sqs", endpoint_url=settings.aws_endpoint_url))
    if queue is not None:
        queue.send_lake_run(outcome.job.run_id)


def serve_exports(settings: Settings, until: threading.Event) -> None:
    """Work the export queue off until stopped, as the export Lambda's event source does."""
    from export import handler

    handler.use_settings(settings)
    sqs: Any = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    url = str(settings.export_queue_url)
    while not until.is_set():
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1, VisibilityTimeout=900
        ).get("Messages", [])
        for message in messages:
            try:
                handler.handle(message["Body"])
            except Exception as exc:  # the message comes back, as SQS would redeliver it
                print(f"export message failed: {type(exc).__name__}: {exc}")
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=30
                )
                continue
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            print(f"export worker: {body.get('kind')} done")
