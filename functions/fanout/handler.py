"""Nightly fan-out: the 02:00 UTC schedule -> one backfill job per series -> SQS.

Thin on purpose: parse the event, call market_data.recovery.recover_stuck_jobs
and market_data.runs.launch_run, report. Every run first re-sends or fails the
jobs earlier runs left stuck; the stuck-job schedule (detail `task: recover`,
every 15 minutes) runs that check alone.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from market_data import metric_names, tracing
from market_data.jobs import EnqueueReport
from market_data.planning import rules_from_settings
from market_data.recovery import RecoveryBounds, recover_stuck_jobs
from market_data.runs import PlanRequest, launch_run, plan_pending_run
from market_data.settings import SettingsSource
from market_data.wiring import job_queue, run_store

logger = Logger()
metrics = Metrics()
settings = SettingsSource()
# The use cases log through the standard library; their records get this logger's JSON.
copy_config_to_registered_loggers(source_logger=logger, include={"market_data"})


@cache
def _sqs(endpoint_url: str | None) -> Any:
    # Created once per execution environment and reused by every invocation;
    # AWS_ENDPOINT_URL points it at the local emulator in development and tests.
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url)


def plan_run(request: PlanRequest, config: Any) -> dict[str, Any]:
    """A run the admin API recorded (the whole universe) and handed over, invoked
    asynchronously: its jobs are planned, recorded and sent here, not in the request."""
    logger.info("planning a recorded run", extra={"run_id": str(request.run_id)})
    store, queue = run_store(config), job_queue(config, _sqs(config.aws_endpoint_url))
    launched = plan_pending_run(rules_from_settings(config), store, queue, request)
    if launched is None:
        return {"run_id": str(request.run_id), "jobs": 0, "planned": False}
    report = launched.report
    _count_sent(report)
    return {
        "run_id": str(launched.run_id),
        "jobs": len(launched.jobs),
        "planned": True,
        "enqueued": report.sent,
        "not_enqueued": [u.job_id for u in report.unsent],
    }


def _count_sent(report: EnqueueReport) -> None:
    metrics.add_metric(name=metric_names.JOBS_ENQUEUED, unit=MetricUnit.Count, value=report.sent)
    if report.unsent:
        metrics.add_metric(
            name=metric_names.JOBS_FAILED, unit=MetricUnit.Count, value=len(report.unsent)
        )


@logger.inject_lambda_context(log_event=False)
@tracing.lambda_handler("fanout")
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    config = settings.get()
    if "plan_run" in event.raw_event:
        return plan_run(PlanRequest.from_event(event.raw_event), config)
    task = (event.detail or {}).get("task", "nightly")
    logger.info(
        "scheduled fan-out",
        extra={"scheduled_time": event.time, "source": event.source, "task": task},
    )
    store, queue = run_store(config), job_queue(config, _sqs(config.aws_endpoint_url))
    recovered = recover_stuck_jobs(
        store, queue, RecoveryBounds.from_settings(config), queue_state=queue
    )
    # Emitted every time, zeros included, so the alarm sees data rather than none.
    metrics.add_metric(name=metric_names.STUCK_JOBS, unit=MetricUnit.Count, value=recovered.stuck)
    if recovered.runs_completed:
        metrics.add_metric(
            name=metric_names.RUNS_COMPLETED,
            unit=MetricUnit.Count,
            value=len(recovered.runs_completed),
        )
    stuck = {"stuck_resent": len(recovered.resent), "stuck_failed": len(recovered.failed)}
    if task == "recover":
        return stuck
    launched = launch_run(rules_from_settings(config), store, queue, trigger="schedule")
    report = launched.report
    _count_sent(report)
    return {
        "run_id": str(launched.run_id),
        "jobs": len(launched.jobs),
        "enqueued": report.sent,
        "send_calls": report.calls,
        "not_enqueued": [u.job_id for u in report.unsent],
        **stuck,
    }
