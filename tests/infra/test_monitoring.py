"""Dashboard and alarms: present, named, described, wired to an encrypted SSL-only topic."""

from __future__ import annotations

import json
from typing import Any

from infra.monitoring import MISSING_RUN_HOURS
from market_data import metric_names
from tests.infra.conftest import Synth, resources_of

EXPECTED_ALARMS = {
    "api-5xx-rate",
    "api-latency-p99",
    "backfill-dlq-not-empty",
    "schedule-dlq-not-empty",
    "backfill-jobs-failed",
    "fanout-jobs-not-enqueued",
    "backfill-jobs-stuck",
    "nightly-run-missing",
    "api-throttles",
    "fanout-throttles",
    "backfill-throttles",
    "export-throttles",
    "export-dlq-not-empty",
    "lake-writes-failed",
    "aurora-cpu-high",
    "aurora-connections-high",
}


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    prefix = f"MarketDataWarehouse-{synth.stage}-"
    return {
        alarm["Properties"]["AlarmName"].removeprefix(prefix): alarm["Properties"]
        for alarm in resources_of(synth.stateless_json, "AWS::CloudWatch::Alarm").values()
    }


def test_every_expected_alarm_exists_with_a_description_and_an_action(dev: Synth) -> None:
    alarms = _alarms(dev)
    assert set(alarms) == EXPECTED_ALARMS
    (topic_id,) = resources_of(dev.stateless_json, "AWS::SNS::Topic")
    for alarm in alarms.values():
        assert len(alarm["AlarmDescription"]) > 40
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_missing_nightly_run_alarm_treats_no_data_as_breaching(dev: Synth) -> None:
    alarm = _alarms(dev)["nightly-run-missing"]
    assert alarm["MetricName"] == metric_names.RUNS_COMPLETED
    assert alarm["Namespace"] == metric_names.NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "backfill"}]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Period"] == 3600
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == MISSING_RUN_HOURS == 26
    # CloudWatch: period <= 1 day, and period x evaluations <= 7 days for 1 h periods.
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 7 * 86400


def test_alarm_periods_respect_cloudwatch_limits(dev: Synth) -> None:
    for name, alarm in _alarms(dev).items():
        periods = (
            [alarm["Period"]]
            if "Period" in alarm
            else [
                query["MetricStat"]["Period"] for query in alarm["Metrics"] if "MetricStat" in query
            ]
        )
        for period in periods:
            assert period <= 86400, name
            total = period * alarm["EvaluationPeriods"]
            assert total <= (86400 if period < 3600 else 7 * 86400), name


def test_failed_jobs_and_dlq_alarms(dev: Synth) -> None:
    alarms = _alarms(dev)
    assert alarms["backfill-jobs-failed"]["MetricName"] == "JobsFailed"
    assert alarms["backfill-jobs-failed"]["Threshold"] == 0
    assert alarms["backfill-jobs-failed"]["Dimensions"] == [
        {"Name": "service", "Value": "backfill"}
    ]
    assert alarms["fanout-jobs-not-enqueued"]["Dimensions"] == [
        {"Name": "service", "Value": "fanout"}
    ]
    assert alarms["backfill-jobs-stuck"]["MetricName"] == "StuckJobs"
    assert alarms["backfill-jobs-stuck"]["Threshold"] == 0
    assert alarms["backfill-jobs-stuck"]["Dimensions"] == [{"Name": "service", "Value": "fanout"}]
    for name in ("backfill-dlq-not-empty", "schedule-dlq-not-empty"):
        assert alarms[name]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarms[name]["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarms[name]["Threshold"] == 0


def test_5xx_alarm_is_a_rate(dev: Synth) -> None:
    alarm = _alarms(dev)["api-5xx-rate"]
    expression = next(q["Expression"] for q in alarm["Metrics"] if "Expression" in q)
    assert "errors / requests" in expression


def test_topic_is_encrypted_and_ssl_only_with_email_in_prod(dev: Synth, prod: Synth) -> None:
    (topic,) = resources_of(dev.stateless_json, "AWS::SNS::Topic").values()
    assert "KmsMasterKeyId" in topic["Properties"]
    (key,) = resources_of(dev.stateless_json, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    (policy,) = resources_of(dev.stateless_json, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    assert resources_of(dev.stateless_json, "AWS::SNS::Subscription") == {}
    (subscription,) = resources_of(prod.stateless_json, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_dashboard_covers_api_lambda_queues_jobs_aurora_and_dynamodb(dev: Synth) -> None:
    (dashboard,) = resources_of(dev.stateless_json, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "5XXError", "4XXError", "Latency", "p99", "Errors", "Throttles", "Duration", "ColdStart",
        "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
        "JobsSucceeded", "JobsFailed", "BarsUpserted", "BarsFlagged", "VendorRequests",
        "BackfillRunsCompleted", "CPUUtilization", "ServerlessDatabaseCapacity",
        "DatabaseConnections", "ReadThrottleEvents", "WriteThrottleEvents",
    ):  # fmt: skip
        assert needle in body, needle
