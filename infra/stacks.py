"""The two stacks: stateful (data, network) and stateless (compute, API, ingest, alarms).

Stateful resources change rarely and must survive a teardown of everything else;
stateless ones are replaced freely. `npx cdk destroy <Stateless>` never touches
data, and the stateful stack can keep deletion protection on in prod.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack, Tags, triggers
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.api import Api
from infra.config import StageConfig
from infra.constants import (
    API_FUNCTION_ID,
    API_HANDLER,
    API_ID,
    API_SERVICE,
    APP_NAME,
    BACKFILL_SERVICE,
    DATABASE_ID,
    DATABASE_NAME,
    DATABASE_PORT,
    EXPORT_SERVICE,
    EXPORT_WORKER_ID,
    FANOUT_SERVICE,
    INGEST_ID,
    KEYS_ID,
    LAKE_ID,
    MIGRATE_FUNCTION_ID,
    MIGRATE_HANDLER,
    MIGRATE_SERVICE,
    MIGRATE_TRIGGER_ID,
    MIGRATIONS_ID,
    MONITORING_ID,
    NETWORK_ID,
    OUTPUT_API_AUDIT_TABLE,
    OUTPUT_API_FUNCTION,
    OUTPUT_API_KEYS_TABLE,
    OUTPUT_ATHENA_WORKGROUP,
    OUTPUT_BACKFILL_DLQ_ARN,
    OUTPUT_BACKFILL_FUNCTION,
    OUTPUT_BACKFILL_QUEUE_URL,
    OUTPUT_DB_ENDPOINT,
    OUTPUT_DB_SECRET_ARN,
    OUTPUT_EXPORT_FUNCTION,
    OUTPUT_EXPORT_QUEUE_URL,
    OUTPUT_EXPORTS_BUCKET,
    OUTPUT_FANOUT_FUNCTION,
    OUTPUT_GLUE_DATABASE,
    OUTPUT_LAKE_BUCKET,
    OUTPUT_MIGRATE_FUNCTION,
    OUTPUT_PEPPER_SECRET_ARN,
    OUTPUT_POLYGON_SECRET_ARN,
    OUTPUT_RATE_LIMIT_TABLE,
    PROVIDER_ID,
    RUNTIME_ID,
    TRANSACTION_SEARCH_ID,
)
from infra.database import APP_DB_USERNAME, Database
from infra.functions import FunctionSpec, LambdaRuntime
from infra.ingest import Ingest, ProviderSecrets
from infra.keys import Keys
from infra.lake import ExportWorker, LakeStorage, grant_objects, lake_write_failures
from infra.monitoring import MonitoredFunction, Monitoring
from infra.network import Network
from infra.outputs import add_outputs
from infra.tracing import TransactionSearch

# API: API Gateway gives up after 29 s, so a longer function timeout would only
# burn time nobody waits for; the app's statement timeout (10 s) stays below it.
API_TIMEOUT = Duration.seconds(29)
# Migrate: DDL plus loading reference data (market calendar) on a database that
# may be scaling up from 0.5 ACU; the deploy waits for it (trigger timeout below).
MIGRATE_TIMEOUT = Duration.minutes(5)

# What the API does to each key table (functions/market_data/keys), and no more:
# GetItem everywhere for the deep health check; the key table is read by hash,
# queried by id (GSI), scanned for the admin list, written and deleted; audit
# events are only ever added and queried, so code running in the API cannot
# rewrite or erase the audit trail (it expires by TTL); rate counters are
# updated in place.
KEYS_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
AUDIT_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
RATE_LIMIT_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")


class StatefulStack(Stack):
    """VPC, Aurora, DynamoDB key store and the secrets an operator sets by hand."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.network = Network(self, NETWORK_ID, config=config)
        self.database = Database(self, DATABASE_ID, config=config, network=self.network)
        self.keys = Keys(self, KEYS_ID, config=config)
        self.provider = ProviderSecrets(self, PROVIDER_ID, config=config)
        self.lake = LakeStorage(self, LAKE_ID, config=config)
        # The account-wide setting X-Ray's OTLP endpoint needs (infra/tracing.py).
        self.transaction_search = (
            TransactionSearch(self, TRANSACTION_SEARCH_ID) if config.transaction_search else None
        )

        add_outputs(
            self,
            {
                OUTPUT_API_KEYS_TABLE: self.keys.api_keys_table.table_name,
                OUTPUT_API_AUDIT_TABLE: self.keys.api_audit_table.table_name,
                OUTPUT_RATE_LIMIT_TABLE: self.keys.rate_limit_table.table_name,
                OUTPUT_PEPPER_SECRET_ARN: self.keys.pepper_secret.secret_arn,
                OUTPUT_POLYGON_SECRET_ARN: self.provider.polygon_secret.secret_arn,
                OUTPUT_DB_SECRET_ARN: self.database.master_secret.secret_arn,
                OUTPUT_DB_ENDPOINT: self.database.hostname,
                OUTPUT_LAKE_BUCKET: self.lake.lake_bucket.bucket_name,
                OUTPUT_EXPORTS_BUCKET: self.lake.exports_bucket.bucket_name,
                OUTPUT_GLUE_DATABASE: self.lake.database_name,
                OUTPUT_ATHENA_WORKGROUP: self.lake.workgroup_name,
            },
        )


class StatelessStack(Stack):
    """Functions, REST API + WAF, nightly ingest, migrations-on-deploy, monitoring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        stateful: StatefulStack,
        skip_bundling: bool = False,
        sam_local: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        network, database, keys = stateful.network, stateful.database, stateful.keys

        self.runtime = LambdaRuntime(
            self,
            RUNTIME_ID,
            config=config,
            vpc=network.vpc,
            skip_bundling=skip_bundling,
            sam_local=sam_local,
            common_environment={
                "STAGE": config.stage,
                "DB_HOST": database.hostname,
                "DB_PORT": str(DATABASE_PORT),
                "DB_NAME": DATABASE_NAME,
                # The least-privilege `app` role, authenticated with IAM tokens; only the
                # migrate function gets a secret (the master login).
                "DB_IAM_USER": APP_DB_USERNAME,
                "MARKET_DATA_PROVIDER": "polygon",
            },
        )

        self.ingest = Ingest(
            self,
            INGEST_ID,
            config=config,
            runtime=self.runtime,
            network=network,
            polygon_secret=stateful.provider.polygon_secret,
        )

        lake = stateful.lake
        self.exports = ExportWorker(
            self,
            EXPORT_WORKER_ID,
            config=config,
            runtime=self.runtime,
            network=network,
            storage=lake,
            skip_bundling=skip_bundling,
        )
        export_queue = self.exports.queue
        # The worker that finishes a run's last job asks for the run's lake write.
        self.ingest.backfill_function.add_environment("EXPORT_QUEUE_URL", export_queue.queue_url)
        export_queue.grant_send_messages(self.ingest.backfill_function)

        self.api_function = self.runtime.add_function(
            self,
            FunctionSpec(
                construct_id=API_FUNCTION_ID,
                handler=API_HANDLER,
                service=API_SERVICE,
                description="FastAPI app (REST API proxy integration) and the dashboard",
                memory_mb=config.api_memory_mb,
                timeout=API_TIMEOUT,
                subnets=network.app_subnets,
                security_group=network.app_functions_sg,
                reserved_concurrency=config.api_reserved_concurrency,
                # Imports and app construction are paid once per version, at publish.
                snap_start=config.api_snap_start,
                environment={
                    "API_KEYS_TABLE": keys.api_keys_table.table_name,
                    "API_AUDIT_TABLE": keys.api_audit_table.table_name,
                    "RATE_LIMIT_TABLE": keys.rate_limit_table.table_name,
                    "API_KEY_PEPPER_SECRET_ARN": keys.pepper_secret.secret_arn,
                    # On-demand backfills (POST /api/v1/admin/backfill) use the nightly queue.
                    "BACKFILL_QUEUE_URL": self.ingest.backfill_queue.queue_url,
                    # /api/v1/metrics reports its depth (the dashboard alerts on it).
                    "BACKFILL_DLQ_URL": self.ingest.backfill_dlq.queue_url,
                    # Whole-universe backfills are planned by the fan-out, invoked async.
                    "FANOUT_FUNCTION_NAME": self.ingest.fanout_function.function_name,
                    "CORS_ALLOW_ORIGINS": ",".join(config.cors_allow_origins),
                    # The status endpoints say whether the nightly schedule is on.
                    "NIGHTLY_SCHEDULE_ENABLED": "true" if config.schedule_enabled else "false",
                    # POST /api/v1/exports records the export and queues it; GET presigns.
                    "EXPORTS_BUCKET": lake.exports_bucket.bucket_name,
                    "EXPORT_QUEUE_URL": export_queue.queue_url,
                },
            ),
        )
        keys.api_keys_table.grant(self.api_function, *KEYS_TABLE_ACTIONS)
        keys.api_audit_table.grant(self.api_function, *AUDIT_TABLE_ACTIONS)
        keys.rate_limit_table.grant(self.api_function, *RATE_LIMIT_TABLE_ACTIONS)
        keys.pepper_secret.grant_read(self.api_function)
        self.ingest.backfill_queue.grant_send_messages(self.api_function)
        # Read its depth, nothing else: the API neither receives from nor redrives the DLQ.
        self.ingest.backfill_dlq.grant(self.api_function, "sqs:GetQueueAttributes")
        # Invoke the fan-out (the function itself: grant_invoke would add its versions, `:*`).
        self.api_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[self.ingest.fanout_function.function_arn],
            )
        )
        # Export records: written on POST, read on GET, which presigns the files' URLs
        # (a presigned GET acts with this role's s3:GetObject).
        grant_objects(
            self.api_function, lake.exports_bucket, ("exports/*",),
            ("s3:GetObject", "s3:PutObject"),
        )  # fmt: skip
        export_queue.grant_send_messages(self.api_function)

        # API Gateway invokes the live alias: SnapStart restores published versions only.
        self.api_alias = self.runtime.live_alias(self, self.api_function)
        self.api = Api(self, API_ID, config=config, handler=self.api_alias)

        for function in (
            self.api_function,
            self.ingest.fanout_function,
            self.ingest.backfill_function,
            self.exports.function,
        ):
            database.grant_app_connect(function)

        # --- migrations on deploy -------------------------------------------------
        migrations = Migrations(
            self, MIGRATIONS_ID, config=config, runtime=self.runtime, stateful=stateful
        )
        migrations.trigger.execute_before(
            self.api_function,
            self.api,
            self.ingest.backfill_function,
            self.ingest.schedule,
            self.ingest.stuck_jobs_schedule,
            self.exports.function,
        )
        self.migrate_function = migrations.function
        self.migrate_trigger = migrations.trigger

        self.monitoring = Monitoring(
            self,
            MONITORING_ID,
            config=config,
            api_stage=self.api.stage,
            functions=[
                MonitoredFunction("Api", self.api_function, API_SERVICE),
                MonitoredFunction("Fanout", self.ingest.fanout_function, FANOUT_SERVICE),
                MonitoredFunction("Backfill", self.ingest.backfill_function, BACKFILL_SERVICE),
                MonitoredFunction("Export", self.exports.function, EXPORT_SERVICE),
            ],
            backfill_queue=self.ingest.backfill_queue,
            dead_letter_queues={
                "Backfill": self.ingest.backfill_dlq,
                "Schedule": self.ingest.schedule_dlq,
                "Export": self.exports.dlq,
            },
            cluster=database.cluster,
            tables={
                "api-keys": keys.api_keys_table,
                "api-audit": keys.api_audit_table,
                "rate-limit": keys.rate_limit_table,
            },
        )
        self.monitoring.add_alarm(
            "LakeWritesFailedAlarm",
            "lake-writes-failed",
            "A run's lake write failed (export worker) or was never requested (backfill "
            "worker): the lake misses that run's bars until a later write covers them.",
            metric=lake_write_failures(),
            threshold=0,
            evaluation_periods=1,
        )
        add_outputs(
            self,
            {
                OUTPUT_EXPORT_QUEUE_URL: export_queue.queue_url,
                OUTPUT_EXPORT_FUNCTION: self.exports.function.function_name,
                OUTPUT_BACKFILL_QUEUE_URL: self.ingest.backfill_queue.queue_url,
                OUTPUT_BACKFILL_DLQ_ARN: self.ingest.backfill_dlq.queue_arn,
                OUTPUT_API_FUNCTION: self.api_function.function_name,
                OUTPUT_FANOUT_FUNCTION: self.ingest.fanout_function.function_name,
                OUTPUT_BACKFILL_FUNCTION: self.ingest.backfill_function.function_name,
                OUTPUT_MIGRATE_FUNCTION: self.migrate_function.function_name,
            },
        )


class Migrations(Construct):
    """The migrate function and the trigger that runs it on every deploy that changes it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        stateful: StatefulStack,
    ) -> None:
        super().__init__(scope, construct_id)
        network, database = stateful.network, stateful.database
        self.function = runtime.add_function(
            self,
            FunctionSpec(
                construct_id=MIGRATE_FUNCTION_ID,
                handler=MIGRATE_HANDLER,
                service=MIGRATE_SERVICE,
                description="Applies SQL migrations and creates the least-privilege app role",
                memory_mb=config.migrate_memory_mb,
                timeout=MIGRATE_TIMEOUT,
                subnets=network.app_subnets,
                security_group=network.app_functions_sg,
                environment={
                    # The master login (RDS-managed secret): DDL and creating the `app`
                    # role named by DB_IAM_USER (in the common environment).
                    "DB_SECRET_ARN": database.master_secret.secret_arn,
                },
            ),
        )
        database.master_secret.grant_read(self.function)

        # Runs after the database exists and before the API and ingest are (re)deployed;
        # a failed migration fails the deploy and CloudFormation rolls back.
        self.trigger = triggers.Trigger(
            self,
            MIGRATE_TRIGGER_ID,
            handler=self.function,
            execute_after=[database.cluster],
            execute_on_handler_change=True,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=MIGRATE_TIMEOUT,
        )


def tag_stack(stack: Stack, config: StageConfig) -> None:
    Tags.of(stack).add("project", APP_NAME)
    Tags.of(stack).add("stage", config.stage)
