"""Migrations run on deploy: a Trigger after the database, before the API and ingest."""

from __future__ import annotations

from infra.constants import API_HANDLER, BACKFILL_HANDLER, MIGRATE_HANDLER
from tests.infra.conftest import Synth, function_by_handler, resources_of

WAITING_FOR_MIGRATIONS = (
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Method",
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::EventSourceMapping",
)


def _trigger(synth: Synth) -> tuple[str, dict]:  # type: ignore[type-arg]
    (match,) = resources_of(synth.stateless_json, "Custom::Trigger").items()
    return match


def test_trigger_invokes_the_current_migrate_version_synchronously(dev: Synth) -> None:
    _, trigger = _trigger(dev)
    properties = trigger["Properties"]
    assert properties["InvocationType"] == "RequestResponse"
    assert properties["ExecuteOnHandlerChange"] is True
    version_id = properties["HandlerArn"]["Ref"]
    version = dev.stateless_json["Resources"][version_id]
    migrate_id, _ = function_by_handler(dev.stateless_json, MIGRATE_HANDLER)
    assert version["Type"] == "AWS::Lambda::Version"
    assert version["Properties"]["FunctionName"] == {"Ref": migrate_id}


def test_api_and_worker_wait_for_the_migrations(dev: Synth) -> None:
    trigger_id, _ = _trigger(dev)
    resources = dev.stateless_json["Resources"]
    api_id, api = function_by_handler(dev.stateless_json, API_HANDLER)
    assert trigger_id in api["DependsOn"]
    for resource_type in WAITING_FOR_MIGRATIONS:
        for logical_id, resource in resources_of(dev.stateless_json, resource_type).items():
            assert trigger_id in resource.get("DependsOn", []), logical_id
    _, worker = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    assert trigger_id in worker["DependsOn"]
    assert api_id in resources


def test_the_stateless_stack_depends_on_the_stateful_one(dev: Synth) -> None:
    assert dev.stateless is not None and dev.stateful is not None
    assert dev.stateful in dev.stateless.dependencies
