"""Nightly fan-out: the 02:00 UTC schedule -> one backfill job per series -> SQS.

Thin on purpose: parse the event, call market_data.backfill.launch_run, report.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from market_data.backfill import launch_run
from market_data.db import get_pool
from market_data.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Created once per execution environment and reused by every invocation;
# AWS_ENDPOINT_URL points it at the local emulator in development and tests.
sqs = boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    if not settings.backfill_queue_url:
        raise ValueError("BACKFILL_QUEUE_URL is not set")
    logger.info("scheduled backfill", extra={"scheduled_time": event.time, "source": event.source})
    launched = launch_run(
        settings,
        get_pool(settings).connection,
        sqs,
        settings.backfill_queue_url,
        trigger="schedule",
    )
    report = launched.report
    metrics.add_metric(name="JobsEnqueued", unit=MetricUnit.Count, value=report.sent)
    if report.unsent:
        metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=len(report.unsent))
    return {
        "run_id": str(launched.run_id),
        "jobs": len(launched.jobs),
        "enqueued": report.sent,
        "send_calls": report.calls,
        "not_enqueued": [u.job_id for u in report.unsent],
    }
