"""Builds the whole app from CDK context; `app.py` and the tests both call `build`."""

from __future__ import annotations

import os

from aws_cdk import Annotations, App, Aspects, Environment
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.config import StageConfig, load_stage_config
from infra.constants import (
    CONTEXT_SAM_LOCAL,
    CONTEXT_SKIP_BUNDLING,
    stateful_stack_name,
    stateless_stack_name,
)
from infra.nag import suppress_stateful, suppress_stateless
from infra.stacks import StatefulStack, StatelessStack, tag_stack


def _truthy(value: object) -> bool:
    return str(value).lower() in {"true", "1", "yes"}


def build(app: App) -> tuple[StatefulStack, StatelessStack]:
    config: StageConfig = load_stage_config(app.node)
    skip_bundling = _truthy(app.node.try_get_context(CONTEXT_SKIP_BUNDLING) or False)
    sam_local = _truthy(app.node.try_get_context(CONTEXT_SAM_LOCAL) or False)

    # Environment-agnostic unless the CLI knows the account/region (`cdk deploy` with
    # credentials): the templates then use Fn::GetAZs and need no lookups.
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None

    stateful = StatefulStack(
        app,
        stateful_stack_name(config.stage),
        config=config,
        env=env,
        description=f"Market Data Warehouse ({config.stage}): VPC, Aurora, key store, secrets",
        termination_protection=config.deletion_protection,
    )
    stateless = StatelessStack(
        app,
        stateless_stack_name(config.stage),
        config=config,
        stateful=stateful,
        skip_bundling=skip_bundling,
        sam_local=sam_local,
        env=env,
        description=f"Market Data Warehouse ({config.stage}): API, ingest, monitoring",
    )
    stateless.add_stack_dependency(stateful)
    if skip_bundling:
        Annotations.of(stateless).add_warning_v2(
            "mdw:skip-bundling",
            "skip_bundling=true: the dependency layer is a placeholder; never deploy this synth.",
        )
    if sam_local:
        Annotations.of(stateless).add_warning_v2(
            "mdw:sam-local",
            "sam_local=true: functions carry local DATABASE_URL/AWS_ENDPOINT_URL defaults; "
            "this synth is for `sam local` only, never deploy it.",
        )
    for stack in (stateful, stateless):
        tag_stack(stack, config)

    suppress_stateful(stateful)
    suppress_stateless(stateless)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    Aspects.of(app).add(ServerlessChecks(verbose=True))
    return stateful, stateless
