"""Nightly ingest: schedule, queue settings, worker event source, failure paths."""

from __future__ import annotations

import json
from typing import Any

from infra.constants import (
    BACKFILL_HANDLER,
    FANOUT_HANDLER,
    NIGHTLY_SCHEDULE_ID,
    STUCK_JOBS_SCHEDULE_ID,
)
from infra.ingest import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_FACTOR
from tests.infra.conftest import Synth, function_by_handler, resources_of

FOURTEEN_DAYS = 14 * 24 * 3600


def _queues(synth: Synth) -> dict[str, dict[str, Any]]:
    return resources_of(synth.stateless_json, "AWS::SQS::Queue")


def _backfill_queue(synth: Synth) -> tuple[str, dict[str, Any]]:
    (match,) = [
        (logical_id, queue)
        for logical_id, queue in _queues(synth).items()
        if "RedrivePolicy" in queue["Properties"]
        and "/BackfillQueue/" in queue["Metadata"]["aws:cdk:path"]
    ]
    return match


def _schedule(dev: Synth, construct_id: str) -> dict[str, Any]:
    (schedule,) = [
        s
        for s in resources_of(dev.stateless_json, "AWS::Scheduler::Schedule").values()
        if f"/{construct_id}/" in s["Metadata"]["aws:cdk:path"]
    ]
    return schedule


def test_schedule_fires_at_two_utc_with_retries_and_a_dlq(dev: Synth) -> None:
    schedule = _schedule(dev, NIGHTLY_SCHEDULE_ID)
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert properties["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert properties["State"] == "ENABLED"
    target = properties["Target"]
    fanout_id, _ = function_by_handler(dev.stateless_json, FANOUT_HANDLER)
    assert target["Arn"] == {"Fn::GetAtt": [fanout_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert "Fn::GetAtt" in target["DeadLetterConfig"]["Arn"]
    assert "Scheduled Event" in str(target["Input"])


def test_fanout_async_failures_go_to_the_schedule_dlq(dev: Synth) -> None:
    (config,) = resources_of(dev.stateless_json, "AWS::Lambda::EventInvokeConfig").values()
    destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    schedule = _schedule(dev, NIGHTLY_SCHEDULE_ID)
    assert destination == schedule["Properties"]["Target"]["DeadLetterConfig"]["Arn"]


def test_the_stuck_job_check_runs_every_15_minutes_with_the_fanouts_bounds(dev: Synth) -> None:
    properties = _schedule(dev, STUCK_JOBS_SCHEDULE_ID)["Properties"]
    assert properties["ScheduleExpression"] == "rate(15 minutes)"
    assert properties["State"] == "ENABLED"
    target = properties["Target"]
    fanout_id, fanout = function_by_handler(dev.stateless_json, FANOUT_HANDLER)
    assert target["Arn"] == {"Fn::GetAtt": [fanout_id, "Arn"]}
    assert '"task":"recover"' in json.dumps(target["Input"]).replace("\\", "").replace(" ", "")
    environment = fanout["Properties"]["Environment"]["Variables"]
    _, worker = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    _, queue = _backfill_queue(dev)
    # Longer than every delivery the queue allows could hold a job.
    stuck_after = int(environment["BACKFILL_STUCK_AFTER_S"])
    assert stuck_after > queue["Properties"]["VisibilityTimeout"] * MAX_RECEIVE_COUNT
    assert stuck_after > worker["Properties"]["Timeout"] * MAX_RECEIVE_COUNT
    assert (
        int(environment["BACKFILL_MESSAGE_RETENTION_S"])
        == (queue["Properties"]["MessageRetentionPeriod"])
    )


def test_queues_are_encrypted_and_refuse_plain_http(dev: Synth) -> None:
    queues = _queues(dev)
    assert len(queues) == 5  # backfill + DLQ, schedule DLQ, export + DLQ
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    protected = {
        policy["Properties"]["Queues"][0]["Ref"]
        for policy in resources_of(dev.stateless_json, "AWS::SQS::QueuePolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert protected == set(queues)


def test_visibility_timeout_is_six_worker_timeouts_and_dlq_after_five(dev: Synth) -> None:
    _, queue = _backfill_queue(dev)
    _, worker = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    timeout = worker["Properties"]["Timeout"]
    assert queue["Properties"]["VisibilityTimeout"] >= VISIBILITY_TIMEOUT_FACTOR * timeout
    assert VISIBILITY_TIMEOUT_FACTOR >= 6
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT == 5
    dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert _queues(dev)[dlq_id]["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS


def test_worker_event_source_reports_partial_failures_with_bounded_concurrency(
    dev: Synth, prod: Synth
) -> None:
    for synth, concurrency in ((dev, 2), (prod, 5)):
        queue_id, _ = _backfill_queue(synth)
        (mapping,) = [
            m
            for m in resources_of(synth.stateless_json, "AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        ]
        properties = mapping["Properties"]
        worker_id, _ = function_by_handler(synth.stateless_json, BACKFILL_HANDLER)
        assert properties["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert properties["FunctionName"] == {"Ref": worker_id}
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["BatchSize"] == 5
        assert properties["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_worker_has_no_reserved_concurrency(dev: Synth) -> None:
    _, worker = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    assert "ReservedConcurrentExecutions" not in worker["Properties"]
