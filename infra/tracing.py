"""CloudWatch Transaction Search: what X-Ray's OTLP endpoint needs to accept spans.

The functions send their OpenTelemetry spans to `xray.<region>.amazonaws.com/v1/traces`
(infra/functions.py). X-Ray takes spans there only once Transaction Search is on
for the account and region: X-Ray then writes every span to the `aws/spans` log
group and indexes a share of them as trace summaries. Turning it on takes a
CloudWatch Logs resource policy letting X-Ray write those log groups (for this
account's X-Ray only) and the account's `AWS::XRay::TransactionSearchConfig`.

Both are one per account and region, so one stage owns them
(`StageConfig.transaction_search`, prod); another stage deployed to the same
account shares the setting, and an account that already has it on keeps it
with `-c transaction_search=false`.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_xray as xray
from constructs import Construct

# The log groups X-Ray writes when Transaction Search is on (names fixed by AWS).
SPAN_LOG_GROUPS = ("aws/spans", "/aws/application-signals/data")
# Spans indexed as X-Ray trace summaries; 1 % is the share that is free of charge.
INDEXING_PERCENTAGE = 1


class TransactionSearch(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        document = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="TransactionSearchXRayAccess",
                    principals=[iam.ServicePrincipal("xray.amazonaws.com")],
                    actions=["logs:PutLogEvents"],
                    resources=[
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
                        f":log-group:{group}:*"
                        for group in SPAN_LOG_GROUPS
                    ],
                    conditions={
                        "ArnLike": {
                            "aws:SourceArn": f"arn:{Aws.PARTITION}:xray:{Aws.REGION}"
                            f":{Aws.ACCOUNT_ID}:*"
                        },
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    },
                )
            ]
        )
        self.log_policy = logs.CfnResourcePolicy(
            self,
            "SpansLogPolicy",
            policy_name=f"{Aws.STACK_NAME}-xray-transaction-search",
            # The document holds tokens (account, region): rendered as an Fn::Join.
            policy_document=Stack.of(self).to_json_string(document.to_json()),
        )
        self.config = xray.CfnTransactionSearchConfig(
            self, "Config", indexing_percentage=INDEXING_PERCENTAGE
        )
        # X-Ray checks that it may write the span log groups when the setting is made.
        self.config.add_dependency(self.log_policy)
