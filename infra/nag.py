"""cdk-nag suppressions. Each names the rule, the resource it applies to and why.

Everything not listed here must pass AwsSolutions and Serverless checks: the
infra tests fail on any unsuppressed error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo

if TYPE_CHECKING:
    from infra.stacks import StatefulStack, StatelessStack

_LAMBDA_MANAGED_POLICIES = [
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
]

_PYTHON_312 = (
    "Python 3.12 is pinned on purpose: the dependency layer is built from cp312 aarch64 "
    "wheels, so runtime and layer are upgraded together (3.12 is supported until 2028-10)."
)

_DLQ_REASONS = {
    "api": "Invoked synchronously by API Gateway; errors return to the caller as 5xx problems.",
    "fanout": (
        "Async failures go to an on-failure destination (the schedule DLQ) configured with "
        "EventInvokeConfig, which this rule does not recognise."
    ),
    "backfill": (
        "Invoked by an SQS event source: failed messages go to the queue's redrive DLQ "
        "(maxReceiveCount 5), not to a function DLQ."
    ),
    "migrate": "Invoked synchronously by the deploy trigger; a failure fails the deploy.",
    "export": (
        "Invoked by an SQS event source: failed messages go to the export queue's redrive "
        "DLQ (maxReceiveCount 3), not to a function DLQ."
    ),
}


def _suppress_function_defaults(function: lambda_.Function, invoked_by: str) -> None:
    NagSuppressions.add_resource_suppressions(
        function,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason=(
                    "AWS-managed Lambda service-role policies: logs to CloudWatch and the "
                    "ec2:*NetworkInterface actions VPC access needs (no resource-level scoping)."
                ),
                applies_to=list(_LAMBDA_MANAGED_POLICIES),
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "xray:PutTraceSegments/PutTelemetryRecords (active tracing) and "
                    "xray:PutSpans/PutSpansForIndexing (OpenTelemetry spans over OTLP) do not "
                    "support resource-level permissions."
                ),
                applies_to=["Resource::*"],
            ),
            NagPackSuppression(id="AwsSolutions-L1", reason=_PYTHON_312),
            NagPackSuppression(id="Serverless-LambdaLatestVersion", reason=_PYTHON_312),
            NagPackSuppression(id="Serverless-LambdaDLQ", reason=_DLQ_REASONS[invoked_by]),
        ],
        apply_to_children=True,
    )


def suppress_stateful(stack: StatefulStack) -> None:
    NagSuppressions.add_resource_suppressions(
        stack.keys.pepper_secret,
        [
            NagPackSuppression(
                id="AwsSolutions-SMG4",
                reason=(
                    "The pepper keys every stored API-key hash: rotating it would revoke all "
                    "issued keys at once, so it is never rotated automatically."
                ),
            )
        ],
    )
    NagSuppressions.add_resource_suppressions(
        stack.provider.polygon_secret,
        [
            NagPackSuppression(
                id="AwsSolutions-SMG4",
                reason=(
                    "A third-party API key issued by Polygon.io: it is rotated at the vendor and "
                    "put here by an operator (docs/DEPLOY.md); Secrets Manager cannot rotate it."
                ),
            )
        ],
    )
    if not stack.config.deletion_protection:
        NagSuppressions.add_resource_suppressions(
            stack.database.cluster,
            [
                NagPackSuppression(
                    id="AwsSolutions-RDS10",
                    reason=(
                        f"Stage {stack.config.stage!r} is disposable: deletion protection is off "
                        "so `cdk destroy` cleans up. prod turns it on (StageConfig)."
                    ),
                )
            ],
            apply_to_children=True,
        )


def suppress_stateless(stack: StatelessStack) -> None:
    _suppress_function_defaults(stack.api_function, "api")
    _suppress_function_defaults(stack.ingest.fanout_function, "fanout")
    _suppress_function_defaults(stack.ingest.backfill_function, "backfill")
    _suppress_function_defaults(stack.migrate_function, "migrate")
    _suppress_function_defaults(stack.exports.function, "export")
    _objects_under_prefixes = (
        "Object actions on keys under fixed prefixes (<bucket arn>/exports/*, /bars/*, "
        "/corporate_actions/*): export ids and partitions name the keys, so the prefix is "
        "the narrowest resource; no bucket-level or wildcard action is granted."
    )
    for function, buckets in (
        (stack.api_function, r"LakeExportsBucket"),
        (stack.exports.function, r"Lake(Lake|Exports)Bucket"),
    ):
        NagSuppressions.add_resource_suppressions(
            function,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=_objects_under_prefixes,
                    applies_to=[
                        RegexAppliesTo(
                            regex=rf"/^Resource::<{buckets}.*\.Arn>\/"
                            r"(exports|bars|corporate_actions)\/\*$/g"
                        )
                    ],
                )
            ],
            apply_to_children=True,
        )
    NagSuppressions.add_resource_suppressions(
        stack.exports.function,
        [
            NagPackSuppression(
                id="Serverless-LambdaEventSourceMappingDestination",
                reason=(
                    "On-failure destinations exist for stream and Kafka sources only; for SQS "
                    "the queue's redrive policy (maxReceiveCount 3 → export DLQ) is the path."
                ),
            )
        ],
        apply_to_children=True,
    )

    NagSuppressions.add_resource_suppressions(
        stack.api_function,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Query on the api-keys table's `by_id` GSI: the grant covers that table's "
                    "indexes (<table arn>/index/*) and nothing else."
                ),
                applies_to=[
                    RegexAppliesTo(regex=r"/^Resource::<KeysApiKeysTable.*\.Arn>\/index\/\*$/g")
                ],
            )
        ],
        apply_to_children=True,
    )
    NagSuppressions.add_resource_suppressions(
        stack.api.rest_api,
        [
            NagPackSuppression(
                id="AwsSolutions-APIG2",
                reason=(
                    "Every request is validated by the FastAPI app (pydantic) behind a {proxy+} "
                    "integration, which answers RFC 9457 problems; WAF limits sizes up front."
                ),
            ),
            NagPackSuppression(
                id="AwsSolutions-APIG4",
                reason=(
                    "Read endpoints are public by design; admin endpoints require an X-API-Key "
                    "that the app checks against hashed keys in DynamoDB (scopes, revocation)."
                ),
            ),
            NagPackSuppression(
                id="AwsSolutions-COG4",
                reason="No user pool: clients are scripts holding API keys (see APIG4).",
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                reason=(
                    "The account-level API Gateway logging role uses the AWS-managed "
                    "AmazonAPIGatewayPushToCloudWatchLogs policy, as API Gateway documents."
                ),
                applies_to=[
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs"
                ],
            ),
        ],
        apply_to_children=True,
    )
    NagSuppressions.add_resource_suppressions(
        stack.ingest.schedule_dlq,
        [
            NagPackSuppression(
                id="AwsSolutions-SQS3",
                reason=(
                    "This queue is a DLQ: of the EventBridge Scheduler target and of the "
                    "fan-out's async on-failure destination, which cdk-nag does not recognise."
                ),
            ),
        ],
    )
    for dead_letter_queue in (
        stack.ingest.schedule_dlq, stack.ingest.backfill_dlq, stack.exports.dlq
    ):  # fmt: skip
        NagSuppressions.add_resource_suppressions(
            dead_letter_queue,
            [
                NagPackSuppression(
                    id="Serverless-SQSRedrivePolicy",
                    reason=(
                        "A dead-letter queue has no DLQ of its own: messages stay 14 days and "
                        "any message in it raises an alarm."
                    ),
                )
            ],
        )
    NagSuppressions.add_resource_suppressions(
        stack.ingest.backfill_function,
        [
            NagPackSuppression(
                id="Serverless-LambdaEventSourceMappingDestination",
                reason=(
                    "On-failure destinations exist for stream and Kafka sources only; for SQS "
                    "the queue's redrive policy (maxReceiveCount 5 → backfill DLQ) is the path."
                ),
            )
        ],
        apply_to_children=True,
    )
    NagSuppressions.add_resource_suppressions(
        stack.ingest.schedule_role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "The Scheduler target role may invoke the fan-out function and its "
                    "versions/aliases (<function arn>:*): one function, nothing else."
                ),
                applies_to=[
                    RegexAppliesTo(regex=r"/^Resource::<IngestFanoutFunction.*\.Arn>:\*$/g")
                ],
            )
        ],
        apply_to_children=True,
    )
    NagSuppressions.add_resource_suppressions(
        stack.monitoring.topic,
        [
            NagPackSuppression(
                id="Serverless-SNSRedrivePolicy",
                reason=(
                    "The only subscription is the alarm email: SNS retries email delivery, and "
                    "a DLQ of undelivered alarm emails would need an alarm of its own."
                ),
            )
        ],
        apply_to_children=True,
    )
