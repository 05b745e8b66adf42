"""Least privilege, on the synthesized prod template: each application function is
granted exactly the actions its code uses (an allowlist: a new grant fails here
until it is justified), on named resources, never a wildcard.

tests/infra/test_iam.py checks which resources each grant names (queues, tables,
secrets, the database user); this adds the complete action sets and the absence
of wildcards, for every policy attached to the function roles.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constants import (
    API_HANDLER,
    BACKFILL_HANDLER,
    EXPORT_HANDLER,
    FANOUT_HANDLER,
    MIGRATE_HANDLER,
)
from tests.infra.conftest import (
    actions_of,
    function_by_handler,
    policy_statements_of_function,
    resources_in,
)

# X-Ray has no resource ARNs: Lambda's active tracing (segments, telemetry) and our
# OpenTelemetry spans sent to X-Ray's OTLP endpoint (infra/functions.py).
XRAY = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    "xray:PutSpans", "xray:PutSpansForIndexing",
}  # fmt: skip
# CDK's read grant on a secret adds DescribeSecret (metadata of that same secret);
# its send grant on a queue adds GetQueueAttributes and GetQueueUrl (likewise).
READ_SECRET = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
SEND_TO_QUEUE = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
CONNECT_AS_APP = {"rds-db:connect"}
CONSUME_QUEUE = {
    # What the SQS event source mapping needs.
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
}  # fmt: skip
EXPECTED_ACTIONS: dict[str, set[str]] = {
    API_HANDLER: XRAY | READ_SECRET | SEND_TO_QUEUE | CONNECT_AS_APP | {
        f"dynamodb:{a}" for a in ("GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem")
    } | {"lambda:InvokeFunction"}  # the fan-out: whole-universe backfills are planned there
    | {"s3:GetObject", "s3:PutObject"},  # export records; presigned GETs of their files
    # Consumes the backfill queue; sends a job waiting out a vendor outage (delayed) to
    # its own queue, a re-sent one that gave up to the DLQ, and a finished run's lake write.
    BACKFILL_HANDLER: XRAY | READ_SECRET | CONNECT_AS_APP | CONSUME_QUEUE | SEND_TO_QUEUE,
    # Consumes the export queue; writes (and removes emptied) lake partitions, export files;
    # lists the lake (a rebuild removes partitions no series reaches; a missing manifest
    # is then a 404, not a 403).
    EXPORT_HANDLER: XRAY | CONNECT_AS_APP | CONSUME_QUEUE | {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
        "s3:ListBucket",
    },
    FANOUT_HANDLER: XRAY | SEND_TO_QUEUE | CONNECT_AS_APP,
    MIGRATE_HANDLER: XRAY | READ_SECRET,
}  # fmt: skip
MANAGED = {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"}


def statements(synth: Any, handler: str) -> list[dict[str, Any]]:
    function_id, _ = function_by_handler(synth.stateless_json, handler)
    return policy_statements_of_function(synth.stateless_json, function_id)


@pytest.mark.parametrize("handler", list(EXPECTED_ACTIONS))
def test_each_function_is_granted_exactly_the_actions_its_code_uses(
    secret_synth: Any, handler: str
) -> None:
    granted = {action for s in statements(secret_synth, handler) for action in actions_of(s)}
    assert granted == EXPECTED_ACTIONS[handler]


@pytest.mark.parametrize("handler", list(EXPECTED_ACTIONS))
def test_no_function_grant_uses_a_wildcard_action_or_resource_beyond_xray(
    secret_synth: Any, handler: str
) -> None:
    for statement in statements(secret_synth, handler):
        assert statement["Effect"] == "Allow"
        actions = actions_of(statement)
        assert not [a for a in actions if "*" in a], statement
        if set(actions) <= XRAY:
            continue
        for resource in resources_in(statement):
            assert resource != "*", statement
            assert not (isinstance(resource, str) and resource.endswith(":*")), statement


@pytest.mark.parametrize("handler", list(EXPECTED_ACTIONS))
def test_function_roles_carry_only_the_lambda_basic_and_vpc_managed_policies(
    secret_synth: Any, handler: str
) -> None:
    template = secret_synth.stateless_json
    _, function = function_by_handler(template, handler)
    role = template["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    attached = {
        json.dumps(arn).rsplit("/", 1)[-1].strip('"]}') for arn in role["ManagedPolicyArns"]
    }
    assert attached == MANAGED
