"""REST API: proxy integration, stage settings, compression, logs, CORS, WAF, outputs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.constants import OUTPUT_API_URL, OUTPUT_DASHBOARD_URL
from tests.infra.conftest import Synth, resources_of


def test_regional_rest_api_with_compression(dev: Synth) -> None:
    dev.stateless_template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "MinimumCompressionSize": 1024},
    )


def test_root_and_proxy_go_to_the_api_function(dev: Synth) -> None:
    methods = [
        m["Properties"]
        for m in resources_of(dev.stateless_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "ANY"
    ]
    assert len(methods) == 2  # / and /{proxy+}
    for method in methods:
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert "ApiFunction" in json.dumps(method["Integration"]["Uri"])
    dev.stateless_template.has_resource_properties(
        "AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"}
    )


def test_stage_throttling_tracing_and_json_access_logs(prod: Synth) -> None:
    (stage,) = resources_of(prod.stateless_json, "AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "prod"
    assert properties["TracingEnabled"] is True
    (settings,) = properties["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 100
    assert settings["ThrottlingBurstLimit"] == 200
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "ERROR"
    access_format = json.loads(properties["AccessLogSetting"]["Format"])
    assert access_format["requestId"] == "$context.requestId"
    assert "status" in access_format and "responseLatency" in access_format
    assert "DestinationArn" in properties["AccessLogSetting"]


def test_cors_preflight_only_where_origins_are_configured(dev: Synth, prod: Synth) -> None:
    def options_methods(synth: Synth) -> list[str]:
        return [
            json.dumps(m["Properties"])
            for m in resources_of(synth.stateless_json, "AWS::ApiGateway::Method").values()
            if m["Properties"]["HttpMethod"] == "OPTIONS"
        ]

    assert options_methods(prod) == []
    dev_options = options_methods(dev)
    assert dev_options and all("http://localhost:8000" in m for m in dev_options)
    assert not any("'*'" in m for m in dev_options)


def test_gateway_errors_are_problem_json(dev: Synth) -> None:
    dev.stateless_template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "THROTTLED",
            "StatusCode": "429",
            "ResponseParameters": {
                "gatewayresponse.header.Content-Type": "'application/problem+json'"
            },
        },
    )


def test_waf_web_acl_rules_and_association_with_the_stage(dev: Synth) -> None:
    (acl_id, acl) = next(iter(resources_of(dev.stateless_json, "AWS::WAFv2::WebACL").items()))
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL"
    managed = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in properties["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert managed == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    statements = json.dumps([rule["Statement"] for rule in properties["Rules"]])
    assert "RateBasedStatement" in statements and "SizeConstraintStatement" in statements
    assert len({rule["Priority"] for rule in properties["Rules"]}) == len(properties["Rules"])

    (association,) = resources_of(dev.stateless_json, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (stage_id,) = resources_of(dev.stateless_json, "AWS::ApiGateway::Stage")
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_outputs_give_the_api_and_dashboard_urls(dev: Synth) -> None:
    outputs = dev.stateless_json["Outputs"]
    assert OUTPUT_API_URL in outputs and OUTPUT_DASHBOARD_URL in outputs
    dashboard = json.dumps(outputs[OUTPUT_DASHBOARD_URL]["Value"])
    assert dashboard.endswith('/dashboard"]]}')
    dev.stateless_template.has_output(OUTPUT_API_URL, {"Value": Match.any_value()})


def test_logging_role_is_set_for_the_account_and_kept_on_teardown(dev: Synth) -> None:
    (account,) = resources_of(dev.stateless_json, "AWS::ApiGateway::Account").values()
    assert account["DeletionPolicy"] == "Retain"
    (stage,) = resources_of(dev.stateless_json, "AWS::ApiGateway::Stage").values()
    (account_id,) = resources_of(dev.stateless_json, "AWS::ApiGateway::Account")
    assert account_id in stage["DependsOn"]
    execution_logs = [
        group
        for group in resources_of(dev.stateless_json, "AWS::Logs::LogGroup").values()
        if "API-Gateway-Execution-Logs_" in json.dumps(group["Properties"].get("LogGroupName"))
    ]
    assert len(execution_logs) == 1 and execution_logs[0]["Properties"]["RetentionInDays"] == 14
