"""Least privilege: each function may touch exactly what its job needs."""

from __future__ import annotations

import json
from typing import Any

from infra.constants import API_HANDLER, BACKFILL_HANDLER, FANOUT_HANDLER, MIGRATE_HANDLER
from tests.infra.conftest import (
    Synth,
    actions_of,
    function_by_handler,
    policy_statements_of_function,
    resources_in,
    resources_of,
)


def _statements(synth: Synth, handler: str) -> list[dict[str, Any]]:
    function_id, _ = function_by_handler(synth.stateless_json, handler)
    return policy_statements_of_function(synth.stateless_json, function_id)


def _resources_for(statements: list[dict[str, Any]], action: str) -> list[str]:
    return [
        json.dumps(resource)
        for statement in statements
        if action in actions_of(statement)
        for resource in resources_in(statement)
    ]


def _queue_id(synth: Synth, path_part: str) -> str:
    (match,) = [
        logical_id
        for logical_id, queue in resources_of(synth.stateless_json, "AWS::SQS::Queue").items()
        if path_part in queue["Metadata"]["aws:cdk:path"]
    ]
    return match


def _all_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in actions_of(statement)}


def test_fanout_sends_only_to_the_backfill_queue_and_its_own_failure_dlq(dev: Synth) -> None:
    statements = _statements(dev, FANOUT_HANDLER)
    backfill_queue = _queue_id(dev, "/BackfillQueue/")
    schedule_dlq = _queue_id(dev, "/ScheduleDeadLetterQueue/")
    targets = _resources_for(statements, "sqs:SendMessage")
    assert sorted(targets) == sorted(
        json.dumps({"Fn::GetAtt": [queue, "Arn"]}) for queue in (backfill_queue, schedule_dlq)
    )
    actions = _all_actions(statements)
    assert not [a for a in actions if a.startswith(("dynamodb:", "secretsmanager:"))]


def test_backfill_worker_cannot_touch_the_key_store_or_other_secrets(dev: Synth) -> None:
    statements = _statements(dev, BACKFILL_HANDLER)
    actions = _all_actions(statements)
    assert not [a for a in actions if a.startswith("dynamodb:")]
    # It sends to its own queue (a job deferred through a vendor outage), that queue's
    # DLQ (a deferred job that gave up) and the export queue (a finished run's lake write).
    assert sorted(_resources_for(statements, "sqs:SendMessage")) == sorted(
        json.dumps({"Fn::GetAtt": [_queue_id(dev, name), "Arn"]})
        for name in ("/BackfillQueue/", "/BackfillDeadLetterQueue/", "/ExportQueue/")
    )
    secrets = _resources_for(statements, "secretsmanager:GetSecretValue")
    assert len(secrets) == 1 and "PolygonApiKeySecret" in secrets[0]
    consumed = _resources_for(statements, "sqs:ReceiveMessage")
    assert consumed == [json.dumps({"Fn::GetAtt": [_queue_id(dev, "/BackfillQueue/"), "Arn"]})]


def test_api_does_to_each_key_table_only_what_the_key_store_does(dev: Synth) -> None:
    statements = _statements(dev, API_HANDLER)
    expected = {
        "KeysApiKeysTable": {"GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem"},
        # Added and queried only: the API cannot rewrite or erase the audit trail.
        "KeysApiAuditTable": {"GetItem", "PutItem", "Query"},
        "KeysRateLimitTable": {"GetItem", "UpdateItem"},
    }
    for table, actions in expected.items():
        granted = {
            action.removeprefix("dynamodb:")
            for statement in statements
            for action in actions_of(statement)
            if action.startswith("dynamodb:")
            and any(table in json.dumps(resource) for resource in resources_in(statement))
        }
        assert granted == actions, table
    actions = _all_actions(statements)
    assert not [a for a in actions if a.endswith("*")]
    assert "dynamodb:GetRecords" not in actions and "dynamodb:DeleteTable" not in actions
    secrets = _resources_for(statements, "secretsmanager:GetSecretValue")
    assert len(secrets) == 1 and "ApiKeyPepperSecret" in secrets[0]
    assert sorted(_resources_for(statements, "sqs:SendMessage")) == sorted(
        json.dumps({"Fn::GetAtt": [_queue_id(dev, f"/{queue}/"), "Arn"]})
        for queue in ("BackfillQueue", "ExportQueue")
    )


def test_only_migrate_reads_the_master_secret(dev: Synth) -> None:
    for handler in (API_HANDLER, FANOUT_HANDLER, BACKFILL_HANDLER):
        read = " ".join(_resources_for(_statements(dev, handler), "secretsmanager:GetSecretValue"))
        assert "MasterUserSecret" not in read
    migrate = _statements(dev, MIGRATE_HANDLER)
    secrets = _resources_for(migrate, "secretsmanager:GetSecretValue")
    assert len(secrets) == 1 and "MasterUserSecret" in secrets[0]
    assert not [a for a in _all_actions(migrate) if a.startswith(("dynamodb:", "sqs:"))]


def test_app_functions_connect_to_postgres_only_as_the_app_role(dev: Synth) -> None:
    for handler in (API_HANDLER, FANOUT_HANDLER, BACKFILL_HANDLER):
        (resource,) = _resources_for(_statements(dev, handler), "rds-db:connect")
        assert resource.endswith('"/app"]]}')
    assert _resources_for(_statements(dev, MIGRATE_HANDLER), "rds-db:connect") == []


def test_scheduler_role_can_only_invoke_the_fanout(dev: Synth) -> None:
    fanout_id, _ = function_by_handler(dev.stateless_json, FANOUT_HANDLER)
    # The nightly run and the stuck-job check share the role.
    schedules = resources_of(dev.stateless_json, "AWS::Scheduler::Schedule").values()
    (role_id,) = {s["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0] for s in schedules}
    statements = [
        statement
        for policy in resources_of(dev.stateless_json, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoke = _resources_for(statements, "lambda:InvokeFunction")
    assert invoke and all(fanout_id in resource for resource in invoke)
