"""Tracing in AWS: every function may send spans to X-Ray's OTLP endpoint and can reach it."""

from __future__ import annotations

import json

import pytest

from infra.constants import API_HANDLER, BACKFILL_HANDLER, FANOUT_HANDLER, MIGRATE_HANDLER
from tests.infra.conftest import (
    Synth,
    actions_of,
    app_functions,
    function_by_handler,
    policy_statements_of_function,
    resources_in,
    resources_of,
    synthesize,
)

SPAN_ACTIONS = {"xray:PutSpans", "xray:PutSpansForIndexing"}
ACTIVE_TRACING = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _endpoint_variable(function: dict[str, object]) -> str:
    variables = function["Properties"]["Environment"]["Variables"]  # type: ignore[index]
    return json.dumps(variables["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])


def test_every_function_names_the_xray_otlp_endpoint_of_its_region(any_stage: Synth) -> None:
    functions = app_functions(any_stage.stateless_json)
    assert len(functions) == 5
    for function in functions.values():
        # https://xray.<region>.amazonaws.com/v1/traces, the region resolved at deploy.
        rendered = _endpoint_variable(function)
        assert '"https://xray."' in rendered
        assert '{"Ref": "AWS::Region"}' in rendered
        assert '".amazonaws.com/v1/traces"' in rendered


def test_every_function_may_send_spans_and_no_other_xray_action(any_stage: Synth) -> None:
    template = any_stage.stateless_json
    for function_id in app_functions(template):
        statements = policy_statements_of_function(template, function_id)
        xray = [s for s in statements if any(a.startswith("xray:") for a in actions_of(s))]
        granted = {a for s in xray for a in actions_of(s)}
        # Lambda's active tracing (segments) and our spans over OTLP, nothing more.
        assert granted == ACTIVE_TRACING | SPAN_ACTIONS, function_id
        for statement in xray:
            assert statement["Effect"] == "Allow"
            assert resources_in(statement) == ["*"]  # X-Ray's put actions have no resource type


@pytest.mark.parametrize("handler", [API_HANDLER, FANOUT_HANDLER, MIGRATE_HANDLER])
def test_isolated_functions_reach_xray_through_an_interface_endpoint(
    dev: Synth, handler: str
) -> None:
    # The isolated functions have no route out of the VPC (tests/infra/test_network.py).
    _, function = function_by_handler(dev.stateless_json, handler)
    assert "appSubnet" in json.dumps(function["Properties"]["VpcConfig"]["SubnetIds"])
    (xray,) = [
        endpoint["Properties"]
        for endpoint in resources_of(dev.stateful_json, "AWS::EC2::VPCEndpoint").values()
        if "xray" in json.dumps(endpoint["Properties"]["ServiceName"])
    ]
    assert xray["VpcEndpointType"] == "Interface"
    # Private DNS: xray.<region>.amazonaws.com resolves to the endpoint in the whole VPC.
    assert xray["PrivateDnsEnabled"] is True
    assert "appSubnet" in json.dumps(xray["SubnetIds"])
    groups = json.dumps(xray["SecurityGroupIds"])
    assert "EndpointSecurityGroup" in groups


def test_the_worker_reaches_the_endpoint_too(dev: Synth) -> None:
    # Its spans take the endpoint (private DNS), so the endpoints' group admits it.
    _, worker = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    assert worker["Properties"]["Environment"]["Variables"]["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    rules = [
        rule["Properties"]
        for rule in resources_of(dev.stateful_json, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["FromPort"] == 443
        and "EndpointSecurityGroup" in json.dumps(rule["Properties"]["GroupId"])
    ]
    sources = json.dumps([rule["SourceSecurityGroupId"] for rule in rules])
    assert "BackfillWorkerSecurityGroup" in sources and "AppFunctionsSecurityGroup" in sources


def test_prod_turns_on_transaction_search_for_its_account(prod: Synth) -> None:
    template = prod.stateful_json
    ((config_id, config),) = resources_of(template, "AWS::XRay::TransactionSearchConfig").items()
    assert config["Properties"]["IndexingPercentage"] == 1
    ((policy_id, policy),) = resources_of(template, "AWS::Logs::ResourcePolicy").items()
    # X-Ray verifies it may write the span log groups when the setting is made.
    assert policy_id in config.get("DependsOn", [])
    rendered = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "xray.amazonaws.com" in rendered
    assert "logs:PutLogEvents" in rendered
    assert "log-group:aws/spans:*" in rendered
    assert "log-group:/aws/application-signals/data:*" in rendered
    # Only this account's X-Ray may write there (confused-deputy conditions).
    assert "aws:SourceArn" in rendered and "aws:SourceAccount" in rendered
    assert config_id


def test_dev_shares_the_account_setting_instead_of_claiming_it(dev: Synth) -> None:
    assert not resources_of(dev.stateful_json, "AWS::XRay::TransactionSearchConfig")
    assert not resources_of(dev.stateful_json, "AWS::Logs::ResourcePolicy")


def test_without_the_endpoint_functions_export_no_spans(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    synth = synthesize("dev", tmp_path_factory.mktemp("cdk-no-xray"), xray_endpoint="false")
    endpoints = resources_of(synth.stateful_json, "AWS::EC2::VPCEndpoint").values()
    assert not [e for e in endpoints if "xray" in json.dumps(e["Properties"]["ServiceName"])]
    template = synth.stateless_json
    for function_id, function in app_functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in variables
        statements = policy_statements_of_function(template, function_id)
        assert not [s for s in statements if SPAN_ACTIONS & set(actions_of(s))]
