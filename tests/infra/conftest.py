"""Synthesizes the CDK app once per stage per test session, offline and without pip.

`skip_bundling=true` gives the dependency layer a tiny placeholder asset, and
`aws:cdk:enable-asset-metadata` makes the plain-Python synth write the
`aws:asset:path` metadata that the CDK CLI (and so `sam local`) writes.
The context also includes cdk.json's feature flags, so the tests see the same
template `npx cdk synth` produces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Environment-agnostic templates, whatever the developer's shell exports.
os.environ.pop("CDK_DEFAULT_ACCOUNT", None)
os.environ.pop("CDK_DEFAULT_REGION", None)

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.assembly import build
from infra.constants import (
    CONTEXT_SKIP_BUNDLING,
    CONTEXT_STAGE,
    REPO_ROOT,
    stateful_stack_name,
    stateless_stack_name,
)
from infra.stacks import StatefulStack, StatelessStack


@dataclass
class Synth:
    stage: str
    outdir: Path
    stateful: StatefulStack | None = None
    stateless: StatelessStack | None = None
    error: str | None = None
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def template(self, stack_name: str) -> dict[str, Any]:
        if self.error is not None:
            pytest.fail(f"synth of stage {self.stage!r} failed:\n{self.error}")
        return self.templates[stack_name]

    @property
    def stateful_json(self) -> dict[str, Any]:
        return self.template(stateful_stack_name(self.stage))

    @property
    def stateless_json(self) -> dict[str, Any]:
        return self.template(stateless_stack_name(self.stage))

    @property
    def stateful_template(self) -> Template:
        return Template.from_json(self.stateful_json)

    @property
    def stateless_template(self) -> Template:
        return Template.from_json(self.stateless_json)


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize(stage: str, outdir: Path, **extra_context: Any) -> Synth:
    context = {
        **cdk_json_context(),
        CONTEXT_STAGE: stage,
        CONTEXT_SKIP_BUNDLING: "true",
        "aws:cdk:enable-asset-metadata": True,
        "aws:cdk:enable-path-metadata": True,
        **extra_context,
    }
    result = Synth(stage=stage, outdir=outdir)
    app = App(context=context, outdir=str(outdir))
    result.stateful, result.stateless = build(app)
    try:
        assembly = app.synth()
    except Exception as exc:  # cdk-nag errors fail validation; keep the report
        report = outdir / "validation-report.json"
        detail = report.read_text()[:20_000] if report.exists() else ""
        result.error = f"{exc}\n{detail}"
        return result
    for stack in assembly.stacks:
        result.templates[stack.stack_name] = stack.template
    return result


@pytest.fixture(scope="session")
def synth_stage(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synth]:
    cache: dict[str, Synth] = {}

    def get(stage: str) -> Synth:
        if stage not in cache:
            extra = {"alarm_email": "ops@example.com"} if stage == "prod" else {}
            cache[stage] = synthesize(stage, tmp_path_factory.mktemp(f"cdk-{stage}"), **extra)
        return cache[stage]

    return get


@pytest.fixture(scope="session")
def dev(synth_stage: Callable[[str], Synth]) -> Synth:
    return synth_stage("dev")


@pytest.fixture(scope="session")
def prod(synth_stage: Callable[[str], Synth]) -> Synth:
    return synth_stage("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def any_stage(request: pytest.FixtureRequest, synth_stage: Callable[[str], Synth]) -> Synth:
    return synth_stage(str(request.param))


# --- helpers on raw template JSON ---------------------------------------------------


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def app_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The four application functions (not CDK's own custom-resource providers)."""
    return {
        logical_id: resource
        for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items()
        if resource["Properties"].get("Runtime", "").startswith("python")
    }


def function_by_handler(template: dict[str, Any], handler: str) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, resource)
        for logical_id, resource in app_functions(template).items()
        if resource["Properties"]["Handler"] == handler
    ]
    assert len(matches) == 1, f"expected one function with handler {handler}"
    return matches[0]


def policy_statements_of_function(
    template: dict[str, Any], function_logical_id: str
) -> list[dict[str, Any]]:
    """Every statement of every inline policy attached to the function's role."""
    role_ref = template["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if {"Ref": role_ref} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    role = template["Resources"][role_ref]["Properties"]
    for inline in role.get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_in(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]
