"""Backfill worker: an SQS batch of jobs, each fetched, validated and upserted.

Powertools' BatchProcessor runs `record_handler` per message and answers with
ReportBatchItemFailures, so only the messages that raised go back to the queue
(and, after the redrive limit, to the dead-letter queue). What happens to a
job is decided in market_data.worker; this module turns the outcome into
metrics and, when the job must be retried, into an exception.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from market_data import metric_names, tracing
from market_data.settings import Settings, SettingsSource
from market_data.wiring import build_worker, lake_queue
from market_data.worker import JobOutcome, Worker

logger = Logger()
metrics = Metrics()
settings = SettingsSource()
# The use cases log through the standard library; their records get this logger's JSON.
copy_config_to_registered_loggers(source_logger=logger, include={"market_data"})
# A batch in which every job failed (a vendor outage) is still answered with the
# list of failures rather than an exception: SQS handles both alike, but this way
# the invocation does not count as a Lambda error - the JobsFailed metric and the
# dead-letter queue alarm are what report it.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class JobRetryError(Exception):
    """Raised for a job that must be delivered again (BatchProcessor reports it)."""


_worker: Worker | None = None


@cache
def _sqs(endpoint_url: str | None) -> Any:
    # The worker re-sends a job that waits out a vendor outage (and puts one that
    # gave up in the DLQ), and asks for a finished run's lake write; one client per
    # execution environment.
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url)


def worker() -> Worker:
    """Built on first use (not at import) and kept for the life of the environment."""
    global _worker
    if _worker is None:
        config = settings.get()
        client = _sqs(config.aws_endpoint_url) if config.backfill_queue_url else None
        _worker = build_worker(config, client)
    return _worker


def use_settings(config: Settings | None, *, with_worker: Worker | None = None) -> None:
    """Work with these settings from now on (None: the environment's); tests use this,
    and `with_worker` when they wire the worker themselves (a simulated clock)."""
    global _worker
    settings.use(config)
    _worker = with_worker


def request_lake_write(run_id: uuid.UUID) -> None:
    """The run is complete: the export worker writes what it changed to the lake.

    The job itself is done, so a failure to ask is logged and counted (the
    failed-lake-writes alarm watches it), not retried with the job.
    """
    config = settings.get()
    if not config.export_queue_url:
        return  # no lake configured (a local run without one)
    try:
        queue = lake_queue(config, _sqs(config.aws_endpoint_url))
        if queue is not None:
            queue.send_lake_run(run_id)
    except Exception:
        logger.exception("lake write not requested", extra={"run_id": str(run_id)})
        metrics.add_metric(name=metric_names.LAKE_WRITES_FAILED, unit=MetricUnit.Count, value=1)


def emit_metrics(outcome: JobOutcome) -> None:
    counts = outcome.counts
    metrics.add_metric(
        name=metric_names.BARS_UPSERTED, unit=MetricUnit.Count, value=counts.bars_upserted
    )
    metrics.add_metric(
        name=metric_names.BARS_FLAGGED, unit=MetricUnit.Count, value=counts.bars_flagged
    )
    metrics.add_metric(
        name=metric_names.VENDOR_REQUESTS, unit=MetricUnit.Count, value=counts.vendor_requests
    )
    if outcome.outcome == "succeeded":
        metrics.add_metric(name=metric_names.JOBS_SUCCEEDED, unit=MetricUnit.Count, value=1)
    elif outcome.outcome == "failed":
        metrics.add_metric(name=metric_names.JOBS_FAILED, unit=MetricUnit.Count, value=1)
    elif outcome.outcome == "retrying":
        metrics.add_metric(name=metric_names.JOBS_RETRIED, unit=MetricUnit.Count, value=1)
    elif outcome.outcome == "deferred":
        metrics.add_metric(name=metric_names.JOBS_DEFERRED, unit=MetricUnit.Count, value=1)
    if outcome.run_completed:
        metrics.add_metric(name=metric_names.RUNS_COMPLETED, unit=MetricUnit.Count, value=1)


def record_handler(record: SQSRecord) -> None:
    with tracing.span("backfill job", {"messaging.message.id": record.message_id}):
        _process(record)


def _process(record: SQSRecord) -> None:
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        outcome = worker().process_message(record.body, receive_count)
    except Exception:
        # An unreadable body or an unknown job: nothing to record it on, so it
        # goes back and ends in the dead-letter queue, where a person can see it.
        logger.exception("message cannot be processed", extra={"message_id": record.message_id})
        raise
    emit_metrics(outcome)
    if outcome.run_completed:
        request_lake_write(outcome.job.run_id)
    logger.info(
        "job processed",
        extra={
            "job_id": str(outcome.job.job_id),
            "symbol": outcome.job.symbol,
            "timeframe": outcome.job.timeframe.value,
            "outcome": outcome.outcome,
            "bars_upserted": outcome.counts.bars_upserted,
            "vendor_requests": outcome.counts.vendor_requests,
        },
    )
    if outcome.requeue:
        raise JobRetryError(outcome.error or "job must be retried")


@logger.inject_lambda_context(log_event=False)
@tracing.lambda_handler("backfill")
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
