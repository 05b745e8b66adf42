"""Nightly ingest: schedule → fan-out → SQS backfill queue → backfill worker.

EventBridge Scheduler fires at 02:00 UTC (retry policy + DLQ) and invokes the
fan-out function asynchronously (2 retries, failures to the same DLQ). The
fan-out plans one job per symbol x timeframe and sends them to a standard SQS
queue (idempotent upserts make at-least-once delivery harmless; FIFO would only
cost throughput). The worker consumes batches, reports partial failures, and a
message that fails 5 times lands in the backfill DLQ (alarmed). The circuit
breaker for Polygon keeps its state in PostgreSQL, so nothing extra is needed.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, SecretValue, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    BACKFILL_DLQ_ID,
    BACKFILL_FUNCTION_ID,
    BACKFILL_HANDLER,
    BACKFILL_QUEUE_ID,
    BACKFILL_SERVICE,
    FANOUT_FUNCTION_ID,
    FANOUT_HANDLER,
    FANOUT_SERVICE,
    NIGHTLY_SCHEDULE_ID,
    POLYGON_SECRET_ID,
    SCHEDULE_DLQ_ID,
    STUCK_JOBS_SCHEDULE_ID,
)
from infra.functions import FunctionSpec, LambdaRuntime
from infra.network import Network

# Fan-out: one DB read of the symbol universe plus ~420 jobs in SendMessageBatch
# calls of 10: seconds of work; 2 minutes leaves room for a slow cold database.
FANOUT_TIMEOUT = Duration.minutes(2)
# Worker: a batch of up to 5 jobs, each one to a few Polygon requests at the
# per-worker rate (the free plan allows 5/min in total: 2 workers get 2/min each,
# so a full batch can take minutes) plus 429 backoff. 10 minutes bounds a stuck
# batch; the queue's visibility timeout is 6 x this (AWS's guidance for SQS
# event sources), so a message is never redelivered while a worker still holds it.
BACKFILL_TIMEOUT = Duration.minutes(10)
VISIBILITY_TIMEOUT_FACTOR = 6
MAX_RECEIVE_COUNT = 5
# The stuck-job check (market_data.recovery): how often, and its bounds. A job
# `running` untouched for longer than every delivery's visibility timeout has no
# message left; one recorded and unsent for several fan-out timeouts was lost.
STUCK_JOBS_CHECK_EVERY = Duration.minutes(15)
STUCK_AFTER = Duration.seconds(
    BACKFILL_TIMEOUT.to_seconds() * VISIBILITY_TIMEOUT_FACTOR * MAX_RECEIVE_COUNT
    + BACKFILL_TIMEOUT.to_seconds()
)
UNSENT_AFTER = Duration.minutes(FANOUT_TIMEOUT.to_minutes() * 5)
MESSAGE_RETENTION = Duration.days(4)
DLQ_RETENTION = Duration.days(14)
# Memory: the fan-out only plans and enqueues (256 MB); the worker parses up to
# 50,000 bars per Polygon page and validates them with pydantic (512 MB).
POLYGON_PLACEHOLDER = "REPLACE-ME-with-the-Polygon-API-key"


class ProviderSecrets(Construct):
    """Stateful half of ingest: the Polygon API key, set by an operator after deploy."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        # A placeholder, not a secret: the real key is set out of band with
        # `aws secretsmanager put-secret-value` (docs/DEPLOY.md). CloudFormation only
        # writes the value when this placeholder changes, so redeploys keep the key.
        self.polygon_secret = secretsmanager.Secret(
            self,
            POLYGON_SECRET_ID,
            description="Polygon.io API key (plain string) used by the backfill worker",
            secret_string_value=SecretValue.unsafe_plain_text(POLYGON_PLACEHOLDER),
            removal_policy=config.removal_policy,
        )


class Ingest(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        network: Network,
        polygon_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)

        self.backfill_dlq = sqs.Queue(
            self,
            BACKFILL_DLQ_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.backfill_queue = sqs.Queue(
            self,
            BACKFILL_QUEUE_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                BACKFILL_TIMEOUT.to_seconds() * VISIBILITY_TIMEOUT_FACTOR
            ),
            retention_period=MESSAGE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.backfill_dlq
            ),
        )
        # Nightly runs that never started: undeliverable schedule invocations and
        # fan-out invocations that failed all their async retries.
        self.schedule_dlq = sqs.Queue(
            self,
            SCHEDULE_DLQ_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )

        self.fanout_function = runtime.add_function(
            self,
            FunctionSpec(
                construct_id=FANOUT_FUNCTION_ID,
                handler=FANOUT_HANDLER,
                service=FANOUT_SERVICE,
                description="Nightly fan-out: plans backfill jobs and enqueues them",
                memory_mb=config.fanout_memory_mb,
                timeout=FANOUT_TIMEOUT,
                subnets=network.app_subnets,
                security_group=network.app_functions_sg,
                environment={
                    "BACKFILL_QUEUE_URL": self.backfill_queue.queue_url,
                    "BACKFILL_STUCK_AFTER_S": str(int(STUCK_AFTER.to_seconds())),
                    "BACKFILL_UNSENT_AFTER_S": str(int(UNSENT_AFTER.to_seconds())),
                    "BACKFILL_MESSAGE_RETENTION_S": str(int(MESSAGE_RETENTION.to_seconds())),
                },
            ),
        )
        self.fanout_function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=Duration.hours(2),
            on_failure=destinations.SqsDestination(self.schedule_dlq),
        )
        self.backfill_queue.grant_send_messages(self.fanout_function)

        self.backfill_function = runtime.add_function(
            self,
            FunctionSpec(
                construct_id=BACKFILL_FUNCTION_ID,
                handler=BACKFILL_HANDLER,
                service=BACKFILL_SERVICE,
                description="Backfill worker: Polygon aggregates → idempotent upsert into Aurora",
                memory_mb=config.backfill_memory_mb,
                timeout=BACKFILL_TIMEOUT,
                # Private subnets with a NAT route: the only function that reaches the internet.
                subnets=network.egress_subnets,
                security_group=network.worker_sg,
                environment={
                    "POLYGON_SECRET_ARN": polygon_secret.secret_arn,
                    # A job waiting out a vendor outage is re-sent here with a delay;
                    # a re-sent job that gives up goes to the DLQ with its reason.
                    "BACKFILL_QUEUE_URL": self.backfill_queue.queue_url,
                    "BACKFILL_DLQ_URL": self.backfill_dlq.queue_url,
                    # Per worker: the plan's budget split across the concurrent workers.
                    "POLYGON_REQUESTS_PER_MINUTE": str(
                        config.polygon_requests_per_minute_per_worker
                    ),
                },
            ),
        )
        polygon_secret.grant_read(self.backfill_function)
        self.backfill_queue.grant_send_messages(self.backfill_function)
        self.backfill_dlq.grant_send_messages(self.backfill_function)
        self.backfill_event_source = event_sources.SqsEventSource(
            self.backfill_queue,
            batch_size=config.backfill_batch_size,
            report_batch_item_failures=True,
            # maxConcurrency, not reserved concurrency, caps the pollers: at most N
            # workers hit Polygon (the plan's rate split N ways) and Aurora (N x a pool of
            # 2 connections), and excess messages simply wait in the queue instead of
            # being throttled back into it (which would burn their receive count).
            max_concurrency=config.backfill_max_concurrency,
        )
        self.backfill_function.add_event_source(self.backfill_event_source)

        # Our own role (rather than the target's implicit stack-level one) so its
        # permissions sit with the schedule: invoke the fan-out, send to the DLQ.
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="EventBridge Scheduler: invoke the nightly fan-out",
        )
        self.schedule = scheduler.Schedule(
            self,
            NIGHTLY_SCHEDULE_ID,
            description="Nightly backfill of the symbol universe (02:00 UTC)",
            schedule=scheduler.ScheduleExpression.expression(
                config.schedule_expression, TimeZone.ETC_UTC
            ),
            enabled=config.schedule_enabled,
            target=scheduler_targets.LambdaInvoke(
                self.fanout_function,
                role=self.schedule_role,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
                dead_letter_queue=self.schedule_dlq,
                input=_scheduled_event({"trigger": "nightly", "stage": config.stage}),
            ),
        )
        # The stuck-job check on its own, between nightly runs: jobs a dead fan-out
        # never sent, or whose workers were killed, are re-sent or failed within
        # minutes of their bound rather than at the next night's run. On whether
        # or not the nightly schedule is (on-demand runs get stuck too).
        self.stuck_jobs_schedule = scheduler.Schedule(
            self,
            STUCK_JOBS_SCHEDULE_ID,
            description="Stuck backfill jobs: re-send or fail the jobs past their bound",
            schedule=scheduler.ScheduleExpression.rate(STUCK_JOBS_CHECK_EVERY),
            target=scheduler_targets.LambdaInvoke(
                self.fanout_function,
                role=self.schedule_role,
                retry_attempts=1,
                max_event_age=STUCK_JOBS_CHECK_EVERY,
                dead_letter_queue=self.schedule_dlq,
                input=_scheduled_event({"task": "recover", "stage": config.stage}),
            ),
        )
        self.functions: list[lambda_.Function] = [self.fanout_function, self.backfill_function]


def _scheduled_event(detail: dict[str, str]) -> scheduler.ScheduleTargetInput:
    """A schedule's input shaped like an EventBridge "Scheduled Event", so the handler
    parses it with the Powertools EventBridge model."""
    return scheduler.ScheduleTargetInput.from_object(
        {
            "version": "0",
            "id": scheduler.ContextAttribute.execution_id,
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": Aws.ACCOUNT_ID,
            "time": scheduler.ContextAttribute.scheduled_time,
            "region": Aws.REGION,
            "resources": [scheduler.ContextAttribute.schedule_arn],
            "detail": detail,
        }
    )
