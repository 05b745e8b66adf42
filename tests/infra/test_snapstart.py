"""SnapStart on the API: published versions behind an alias that API Gateway invokes."""

from __future__ import annotations

import json

from infra.functions import LIVE_ALIAS
from tests.infra.conftest import Synth, resources_of


def _api_function_id(synth: Synth) -> str:
    functions = resources_of(synth.stateless_json, "AWS::Lambda::Function")
    (found,) = [
        logical_id
        for logical_id, resource in functions.items()
        if resource["Properties"].get("Handler") == "api.handler.lambda_handler"
    ]
    return found


def test_the_api_function_snapshots_its_published_versions(prod: Synth) -> None:
    functions = resources_of(prod.stateless_json, "AWS::Lambda::Function")
    api = functions[_api_function_id(prod)]["Properties"]
    assert api["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert api["Runtime"] == "python3.12"
    # Only the API pays for it: the workers start a handful of times a night.
    others = [f for i, f in functions.items() if i != _api_function_id(prod)]
    assert all("SnapStart" not in f["Properties"] for f in others)


def test_api_gateway_invokes_the_live_alias_of_a_published_version(prod: Synth) -> None:
    api_id = _api_function_id(prod)
    (version,) = [
        v
        for v in resources_of(prod.stateless_json, "AWS::Lambda::Version").values()
        if v["Properties"]["FunctionName"] == {"Ref": api_id}
    ]
    assert version
    (alias_id, alias) = next(
        (i, a)
        for i, a in resources_of(prod.stateless_json, "AWS::Lambda::Alias").items()
        if a["Properties"]["FunctionName"] == {"Ref": api_id}
    )
    assert alias["Properties"]["Name"] == LIVE_ALIAS
    assert "FunctionVersion" in alias["Properties"]
    methods = [
        m["Properties"]
        for m in resources_of(prod.stateless_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "ANY"
    ]
    assert len(methods) == 2
    for method in methods:
        assert alias_id in json.dumps(method["Integration"]["Uri"])
    permissions = [
        p["Properties"]
        for p in resources_of(prod.stateless_json, "AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "apigateway.amazonaws.com"
    ]
    assert permissions
    assert all(alias_id in json.dumps(p["FunctionName"]) for p in permissions)


def test_no_provisioned_concurrency_next_to_snapstart(prod: Synth) -> None:
    for alias in resources_of(prod.stateless_json, "AWS::Lambda::Alias").values():
        assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
