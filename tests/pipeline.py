"""The backfill pipeline as tests drive it: launch a run, and the SQS event source simulated."""

from __future__ import annotations

from typing import Any

import boto3

from devtools.lambda_context import FakeLambdaContext
from market_data.planning import rules_from_settings
from market_data.runs import LaunchedRun, launch_run
from market_data.settings import Settings
from market_data.wiring import job_queue, run_store


def launch(settings: Settings, **options: Any) -> LaunchedRun:
    """A run planned, recorded and sent to the settings' backfill queue (trigger "cli")."""
    options.setdefault("trigger", "cli")
    queue = job_queue(settings, boto3.client("sqs", endpoint_url=settings.aws_endpoint_url))
    return launch_run(rules_from_settings(settings), run_store(settings), queue, **options)


def deliver(handler: Any, queue_url: str) -> list[str]:
    """One poll of the Lambda event source mapping: receive a batch, invoke the handler,
    settle the messages. Successes are deleted; reported failures become visible again
    at once (the visibility timeout, fast-forwarded), so the next poll redelivers them
    and moto's redrive policy moves them to the DLQ after maxReceiveCount receives.
    Returns the ids of the messages the handler reported as failed."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return []
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:backfill",
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    result = handler.lambda_handler({"Records": records}, FakeLambdaContext())
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return sorted(failed)
