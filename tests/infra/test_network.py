"""Network: isolated subnets, endpoints, NAT only for the worker, nothing open to the world."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.constants import API_HANDLER, BACKFILL_HANDLER, FANOUT_HANDLER, MIGRATE_HANDLER
from tests.infra.conftest import Synth, function_by_handler, resources_of

WORLD = {"0.0.0.0/0", "::/0"}


def test_vpc_has_public_egress_and_two_isolated_subnet_groups(dev: Synth) -> None:
    subnets = resources_of(dev.stateful_json, "AWS::EC2::Subnet")
    groups = {
        tag["Value"]
        for subnet in subnets.values()
        for tag in subnet["Properties"]["Tags"]
        if tag["Key"] == "aws-cdk:subnet-name"
    }
    assert groups == {"public", "egress", "app", "data"}
    assert len(subnets) == 8  # two AZs
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_nat_gateways_per_stage(dev: Synth, prod: Synth) -> None:
    dev.stateful_template.resource_count_is("AWS::EC2::NatGateway", 1)
    prod.stateful_template.resource_count_is("AWS::EC2::NatGateway", 2)


def test_dynamodb_gateway_and_interface_endpoints_exist(dev: Synth) -> None:
    template = dev.stateful_template
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": Match.object_like(
                {"Fn::Join": ["", Match.array_with([Match.string_like_regexp("dynamodb")])]}
            ),
        },
    )
    interface = [
        json.dumps(endpoint["Properties"]["ServiceName"])
        for endpoint in resources_of(dev.stateful_json, "AWS::EC2::VPCEndpoint").values()
        if endpoint["Properties"].get("VpcEndpointType") == "Interface"
    ]
    assert any("secretsmanager" in name for name in interface)
    assert any("sqs" in name for name in interface)
    for endpoint in resources_of(dev.stateful_json, "AWS::EC2::VPCEndpoint").values():
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True


def test_no_security_group_accepts_traffic_from_the_world(any_stage: Synth) -> None:
    for template in (any_stage.stateful_json, any_stage.stateless_json):
        for group in resources_of(template, "AWS::EC2::SecurityGroup").values():
            for rule in group["Properties"].get("SecurityGroupIngress", []):
                assert rule.get("CidrIp") not in WORLD
                assert rule.get("CidrIpv6") not in WORLD
        for rule in resources_of(template, "AWS::EC2::SecurityGroupIngress").values():
            assert rule["Properties"].get("CidrIp") not in WORLD
            assert rule["Properties"].get("CidrIpv6") not in WORLD
            assert "SourceSecurityGroupId" in rule["Properties"]


def test_database_accepts_postgres_only_from_the_function_groups(dev: Synth) -> None:
    rules = [
        rule["Properties"]
        for rule in resources_of(dev.stateful_json, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["FromPort"] == 5432
    ]
    sources = {rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in rules}
    assert len(rules) == 2
    assert all("AppFunctions" in s or "BackfillWorker" in s for s in sources)


def _subnet_refs(synth: Synth, handler: str) -> str:
    _, function = function_by_handler(synth.stateless_json, handler)
    return json.dumps(function["Properties"]["VpcConfig"]["SubnetIds"])


def test_only_the_backfill_worker_sits_in_subnets_with_a_nat_route(dev: Synth) -> None:
    assert "egressSubnet" in _subnet_refs(dev, BACKFILL_HANDLER)
    for handler in (API_HANDLER, FANOUT_HANDLER, MIGRATE_HANDLER):
        refs = _subnet_refs(dev, handler)
        assert "appSubnet" in refs and "egressSubnet" not in refs
