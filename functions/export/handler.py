"""Export worker: SQS messages that write an export's files, or the lake after a run.

Two kinds of message on one queue, one function with the Parquet library in its
own layer (the API and the backfill worker never load it):
- {"kind": "export", "export_id": ...} from POST /api/v1/exports;
- {"kind": "lake", "run_id": ...} from the backfill worker that finished a run's
  last job; {"kind": "lake", "rebuild": true} rewrites every partition.
A message that fails goes back to the queue (ReportBatchItemFailures) and, after
the redrive limit, to the dead-letter queue; the failure metrics and the DLQ
alarm report it.
"""

from __future__ import annotations

import json
import time
import uuid
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
from market_data.exports import ExportRecord, run_export
from market_data.lake import LakeReport
from market_data.settings import Settings, SettingsSource
from market_data.wiring import export_parts, lake_writer

logger = Logger()
metrics = Metrics()
settings = SettingsSource()
copy_config_to_registered_loggers(source_logger=logger, include={"market_data"})
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        import boto3

        endpoint = settings.get().aws_endpoint_url
        _clients[service] = boto3.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
    return _clients[service]


def use_settings(config: Settings | None) -> None:
    """Work with these settings from now on (None: the environment's); tests use this."""
    settings.use(config)
    _clients.clear()


def write_lake(message: dict[str, Any]) -> LakeReport:
    writer = lake_writer(settings.get(), client("s3"))
    started = time.perf_counter()
    try:
        if message.get("rebuild"):
            report = writer.rebuild()
        else:
            report = writer.write_run(uuid.UUID(message["run_id"]))
    except Exception:
        metrics.add_metric(name=metric_names.LAKE_WRITES_FAILED, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=metric_names.LAKE_ROWS, unit=MetricUnit.Count, value=report.rows)
    metrics.add_metric(
        name=metric_names.LAKE_PARTITIONS, unit=MetricUnit.Count, value=report.partitions
    )
    metrics.add_metric(
        name=metric_names.LAKE_WRITE_SECONDS,
        unit=MetricUnit.Seconds,
        value=time.perf_counter() - started,
    )
    return report


def write_export(message: dict[str, Any]) -> ExportRecord:
    store, reader, files = export_parts(settings.get(), client("s3"))
    started = time.perf_counter()
    try:
        record = run_export(uuid.UUID(message["export_id"]), store, reader, files)
    except Exception:
        metrics.add_metric(name=metric_names.EXPORTS_FAILED, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=metric_names.EXPORT_ROWS, unit=MetricUnit.Count, value=record.rows)
    metrics.add_metric(name=metric_names.EXPORT_BYTES, unit=MetricUnit.Bytes, value=record.bytes)
    metrics.add_metric(
        name=metric_names.EXPORT_SECONDS,
        unit=MetricUnit.Seconds,
        value=time.perf_counter() - started,
    )
    return record


def handle(body: str) -> None:
    message = json.loads(body)
    kind = message.get("kind")
    if kind == "lake":
        report = write_lake(message)
        logger.info("lake written", extra={"partitions": report.partitions, "rows": report.rows})
    elif kind == "export":
        record = write_export(message)
        logger.info("export written", extra={"export_id": str(record.id), "rows": record.rows})
    else:
        raise ValueError(f"unknown message kind {kind!r}")


def record_handler(record: SQSRecord) -> None:
    with tracing.span("export message", {"messaging.message.id": record.message_id}):
        _process(record)


def _process(record: SQSRecord) -> None:
    try:
        handle(record.body)
    except Exception:
        logger.exception("export message failed", extra={"message_id": record.message_id})
        raise


@logger.inject_lambda_context(log_event=False)
@tracing.lambda_handler("export")
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
