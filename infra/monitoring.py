"""CloudWatch dashboard and alarms; alarms notify an encrypted SNS topic.

Custom metrics come from Powertools Metrics (EMF); their names, namespace and
dimensions are defined once, in market_data.metric_names, which the handlers
emit with: the backfill worker's job, bar and vendor-request counts and
BackfillRunsCompleted (when the last job of a run finishes), the fan-out's
JobsFailed for jobs it could not enqueue, and Powertools' ColdStart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, Aws, Duration, Fn
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    ALARM_TOPIC_ID,
    APP_NAME,
    BACKFILL_SERVICE,
    DASHBOARD_ID,
    FANOUT_SERVICE,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_CLOUDWATCH_DASHBOARD,
)
from infra.outputs import add_outputs
from market_data import metric_names

FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)
# "No run in 26 h": 26 one-hour periods, all missing/zero. A single 26 h period is
# not allowed (an alarm period is at most one day), and for periods of 1 h or more
# CloudWatch accepts evaluation ranges up to 7 days.
MISSING_RUN_HOURS = 26


@dataclass(frozen=True)
class MonitoredFunction:
    label: str
    function: lambda_.Function
    service: str


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api_stage: apigw.Stage,
        functions: list[MonitoredFunction],
        backfill_queue: sqs.IQueue,
        dead_letter_queues: dict[str, sqs.IQueue],
        cluster: rds.DatabaseCluster,
        tables: dict[str, dynamodb.ITable],
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = f"{APP_NAME}-{config.stage}"
        self.alarms: list[cloudwatch.Alarm] = []

        # --- notifications --------------------------------------------------------
        # SNS encryption needs a customer key: CloudWatch cannot use the AWS-managed
        # SNS key to publish alarms.
        topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{self.prefix}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.topic = sns.Topic(
            self,
            ALARM_TOPIC_ID,
            display_name=f"{self.prefix} alarms",
            master_key=topic_key,
            enforce_ssl=True,
        )
        # The topic has a policy (SSL only), so CloudWatch needs an explicit allow.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:"
                        f"{Aws.ACCOUNT_ID}:alarm:*"
                    }
                },
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        elif config.is_prod:
            Annotations.of(self).add_warning_v2(
                "mdw:no-alarm-email",
                "prod alarms notify nobody: pass -c alarm_email=... or subscribe to the topic.",
            )
        self._action = cloudwatch_actions.SnsAction(self.topic)

        # --- metrics --------------------------------------------------------------
        requests = api_stage.metric_count(period=FIVE_MINUTES, statistic="Sum")
        errors_4xx = api_stage.metric_client_error(period=FIVE_MINUTES, statistic="Sum")
        errors_5xx = api_stage.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        latency_p50 = api_stage.metric_latency(period=FIVE_MINUTES, statistic="p50")
        latency_p99 = api_stage.metric_latency(period=FIVE_MINUTES, statistic="p99")
        error_rate_5xx = cloudwatch.MathExpression(
            # Below 10 requests per 5 minutes a single error is not a rate worth waking for.
            expression="IF(requests >= 10, 100 * errors / requests, 0)",
            using_metrics={"requests": requests, "errors": errors_5xx},
            label="5xx rate (%)",
            period=FIVE_MINUTES,
        )

        def custom(name: str, service: str, period: Duration = ONE_HOUR) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metric_names.NAMESPACE,
                metric_name=name,
                dimensions_map={"service": service},
                statistic="Sum",
                period=period,
            )

        jobs_failed = custom(metric_names.JOBS_FAILED, BACKFILL_SERVICE)
        # The fan-out counts jobs it planned but could not enqueue under the same name.
        jobs_not_enqueued = custom(metric_names.JOBS_FAILED, FANOUT_SERVICE)
        runs_completed = custom(metric_names.RUNS_COMPLETED, BACKFILL_SERVICE)
        stuck_jobs = custom(metric_names.STUCK_JOBS, FANOUT_SERVICE)

        # --- alarms ---------------------------------------------------------------
        self._alarm(
            "Api5xxRate",
            "api-5xx-rate",
            f"More than {config.api_5xx_rate_threshold_pct} % of API requests failed with 5xx "
            "in 2 of the last 3 five-minute periods. Check the API function's logs and "
            "errors, then the database (503s mean it is unreachable).",
            metric=error_rate_5xx,
            threshold=config.api_5xx_rate_threshold_pct,
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )
        self._alarm(
            "ApiLatencyP99",
            "api-latency-p99",
            f"API p99 latency above {config.api_p99_latency_threshold_ms} ms for 15 minutes. "
            "Look at the function's duration and cold starts and at Aurora CPU/ACU.",
            metric=latency_p99,
            threshold=config.api_p99_latency_threshold_ms,
            evaluation_periods=3,
        )
        for label, queue in dead_letter_queues.items():
            self._alarm(
                f"{label}DlqNotEmpty",
                f"{_kebab(label)}-dlq-not-empty",
                f"The {label} dead-letter queue holds messages: work that failed every retry. "
                "Inspect the messages and the function logs, fix, then redrive them.",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                threshold=0,
                evaluation_periods=1,
            )
        self._alarm(
            "BackfillJobsFailed",
            "backfill-jobs-failed",
            f"Backfill jobs failed in the last hour ({metric_names.JOBS_FAILED} > 0): "
            "vendor errors, bad data or the database. The job status endpoint and the worker "
            "logs name the symbols.",
            metric=jobs_failed,
            threshold=0,
            evaluation_periods=1,
        )
        self._alarm(
            "FanoutJobsNotEnqueued",
            "fanout-jobs-not-enqueued",
            "The fan-out planned backfill jobs it could not send to the queue "
            f"({metric_names.JOBS_FAILED}, service={FANOUT_SERVICE}): those series miss this run. "
            "Check the fan-out logs and SQS.",
            metric=jobs_not_enqueued,
            threshold=0,
            evaluation_periods=1,
        )
        self._alarm(
            "BackfillJobsStuck",
            "backfill-jobs-stuck",
            f"The stuck-job check found jobs past their bound ({metric_names.STUCK_JOBS} > 0) "
            "and re-sent or failed them: a fan-out died before sending, or workers were killed "
            "or timed out. The fan-out logs ('stuck jobs recovered') and the jobs' errors "
            "say which.",
            metric=stuck_jobs,
            threshold=0,
            evaluation_periods=1,
        )
        self._alarm(
            "NightlyRunMissing",
            "nightly-run-missing",
            f"No backfill run completed in the last {MISSING_RUN_HOURS} hours "
            f"({metric_names.RUNS_COMPLETED} missing). Check the schedule, the schedule DLQ "
            "and the fan-out logs. Expected right after the first deploy until the first run.",
            metric=runs_completed,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=MISSING_RUN_HOURS,
            datapoints_to_alarm=MISSING_RUN_HOURS,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )
        for monitored in functions:
            self._alarm(
                f"{monitored.label}Throttles",
                f"{_kebab(monitored.label)}-throttles",
                f"The {monitored.label} function was throttled: the account or reserved "
                "concurrency is exhausted. Requests or messages are being delayed or refused.",
                metric=monitored.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                threshold=0,
                evaluation_periods=1,
            )
        self._alarm(
            "AuroraCpuHigh",
            "aurora-cpu-high",
            f"Aurora CPU above {config.db_cpu_threshold_pct} % for 15 minutes: the cluster is "
            "at its max capacity or a query went bad (see Performance Insights).",
            metric=cluster.metric_cpu_utilization(period=FIVE_MINUTES, statistic="Average"),
            threshold=config.db_cpu_threshold_pct,
            evaluation_periods=3,
        )
        self._alarm(
            "AuroraConnectionsHigh",
            "aurora-connections-high",
            f"More than {config.db_connections_threshold} database connections for 15 minutes: "
            "check API concurrency and the worker's maxConcurrency (no RDS Proxy in between).",
            metric=cluster.metric_database_connections(period=FIVE_MINUTES, statistic="Maximum"),
            threshold=config.db_connections_threshold,
            evaluation_periods=3,
        )

        # --- dashboard ------------------------------------------------------------
        self.dashboard = cloudwatch.Dashboard(
            self,
            DASHBOARD_ID,
            dashboard_name=self.prefix,
            default_interval=Duration.days(1),
        )
        width = 8
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# {self.prefix}\nAPI, nightly ingest, database and key store.",
                width=24,
                height=1,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="API requests", left=[requests], width=width),
            cloudwatch.GraphWidget(
                title="API 4xx / 5xx",
                left=[errors_4xx, errors_5xx],
                right=[error_rate_5xx],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="API latency p50 / p99 (ms)", left=[latency_p50, latency_p99], width=width
            ),
        )

        def per_function(title: str, metric_of: str, statistic: str) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=[
                    getattr(item.function, metric_of)(
                        period=FIVE_MINUTES, statistic=statistic, label=item.label
                    )
                    for item in functions
                ],
                width=width,
            )

        self.dashboard.add_widgets(
            per_function("Lambda errors", "metric_errors", "Sum"),
            per_function("Lambda throttles", "metric_throttles", "Sum"),
            per_function("Lambda duration p99 (ms)", "metric_duration", "p99"),
        )
        cold_starts = [
            cloudwatch.Metric(
                namespace=metric_names.NAMESPACE,
                metric_name=metric_names.COLD_START,
                dimensions_map={
                    "function_name": item.function.function_name,
                    "service": item.service,
                },
                statistic="Sum",
                period=FIVE_MINUTES,
                label=item.label,
            )
            for item in functions
        ]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Cold starts", left=cold_starts, width=width),
            cloudwatch.GraphWidget(
                title="Backfill queue",
                left=[
                    backfill_queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, statistic="Maximum", label="visible"
                    ),
                    backfill_queue.metric_approximate_number_of_messages_not_visible(
                        period=FIVE_MINUTES, statistic="Maximum", label="in flight"
                    ),
                ],
                right=[
                    backfill_queue.metric_approximate_age_of_oldest_message(
                        period=FIVE_MINUTES, statistic="Maximum", label="oldest (s)"
                    )
                ],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queues",
                left=[
                    queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, statistic="Maximum", label=label
                    )
                    for label, queue in dead_letter_queues.items()
                ],
                width=width,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Backfill jobs",
                left=[
                    custom(metric_names.JOBS_SUCCEEDED, BACKFILL_SERVICE),
                    jobs_failed,
                    jobs_not_enqueued.with_(label=f"{metric_names.JOBS_FAILED} (not enqueued)"),
                    runs_completed,
                ],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="Bars and vendor requests",
                left=[
                    custom(metric_names.BARS_UPSERTED, BACKFILL_SERVICE),
                    custom(metric_names.BARS_FLAGGED, BACKFILL_SERVICE),
                ],
                right=[custom(metric_names.VENDOR_REQUESTS, BACKFILL_SERVICE)],
                width=width,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms), width=width, height=6
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Aurora CPU (%) / capacity (ACU)",
                left=[cluster.metric_cpu_utilization(period=FIVE_MINUTES)],
                right=[cluster.metric_serverless_database_capacity(period=FIVE_MINUTES)],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="Aurora connections",
                left=[cluster.metric_database_connections(period=FIVE_MINUTES)],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB throttled requests",
                left=[
                    cloudwatch.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name=metric_name,
                        dimensions_map={"TableName": table.table_name},
                        statistic="Sum",
                        period=FIVE_MINUTES,
                        label=f"{label} {kind}",
                    )
                    for label, table in tables.items()
                    for metric_name, kind in (
                        ("ReadThrottleEvents", "reads"),
                        ("WriteThrottleEvents", "writes"),
                    )
                ],
                width=width,
            ),
        )

        add_outputs(
            self,
            {
                OUTPUT_CLOUDWATCH_DASHBOARD: Fn.join(
                    "",
                    [
                        "https://console.aws.amazon.com/cloudwatch/home?region=",
                        Aws.REGION,
                        "#dashboards:name=",
                        self.dashboard.dashboard_name,
                    ],
                ),
                OUTPUT_ALARM_TOPIC_ARN: self.topic.topic_arn,
            },
            descriptions={
                OUTPUT_CLOUDWATCH_DASHBOARD: "CloudWatch dashboard of the stage",
                OUTPUT_ALARM_TOPIC_ARN: (
                    "SNS topic the alarms notify (subscribe more endpoints here)"
                ),
            },
        )

    def add_alarm(
        self, construct_id: str, name: str, description: str, **options: Any
    ) -> cloudwatch.Alarm:
        """An alarm of another construct's making, notifying the stage's topic."""
        return self._alarm(construct_id, name, description, **options)

    def _alarm(
        self,
        construct_id: str,
        name: str,
        description: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        evaluation_periods: int,
        datapoints_to_alarm: int | None = None,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
        return alarm


def _kebab(label: str) -> str:
    out = ""
    for index, char in enumerate(label):
        if char.isupper() and index:
            out += "-"
        out += char.lower()
    return out
