"""The lake and the exports: S3 buckets, the Glue catalog, the Athena workgroup, the export worker.

Stateful (`LakeStorage`, in the stateful stack): the lake bucket (Parquet,
Hive-partitioned `bars/timeframe=/month=`), the exports bucket (export files and
Athena query results, both expired by lifecycle rules), the access-log bucket,
the Glue database and tables (partition projection: no crawler, no partition
registration), and the Athena workgroup (results encrypted, settings enforced,
a per-query bytes-scanned cutoff).

Stateless (`ExportWorker`): the export queue (+ DLQ) and the export function,
which writes the lake after each run and the async exports, with the Parquet
library in a layer of its own.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import lake_layer_code
from infra.config import StageConfig
from infra.constants import (
    ATHENA_WORKGROUP_ID,
    BACKFILL_SERVICE,
    EXPORT_DLQ_ID,
    EXPORT_FUNCTION_ID,
    EXPORT_HANDLER,
    EXPORT_QUEUE_ID,
    EXPORT_SERVICE,
    EXPORTS_BUCKET_ID,
    GLUE_DATABASE_ID,
    LAKE_BUCKET_ID,
    LAKE_LAYER_ID,
    LAKE_LOGS_BUCKET_ID,
)
from infra.functions import ARCHITECTURE, RUNTIME, FunctionSpec, LambdaRuntime
from infra.network import Network
from market_data import metric_names
from market_data.lake import MANIFEST_KEY

EXPORT_TIMEOUT = Duration.minutes(15)
EXPORT_MEMORY_MB = 3008
# A lake write spools each partition's Parquet file (past 32 MB) in /tmp until it is
# uploaded, two partition groups at once: a month of 1m bars for 500 symbols is a few
# hundred MB of Parquet, more than Lambda's default 512 MB would hold twice.
EXPORT_TMP_MB = 4096
# Export files and their records are downloadable for a week, then gone.
EXPORT_RETENTION = Duration.days(7)
ATHENA_RESULTS_PREFIX = "athena-results/"
ATHENA_RESULTS_RETENTION = Duration.days(30)
# A rewritten partition leaves its previous file as a noncurrent version: kept long
# enough to recover from a bad write, then expired.
LAKE_NONCURRENT_RETENTION = Duration.days(30)
# One query may scan at most this much (Athena bills per TB scanned): 10 GB is
# years of the whole universe's daily bars, or a month of its minute bars.
ATHENA_BYTES_SCANNED_CUTOFF = 10 * 1024**3
FIRST_MONTH = "1990-01"

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")

_BAR_COLUMNS = [
    ("symbol", "string"), ("time", "timestamp"), ("open", "double"), ("high", "double"),
    ("low", "double"), ("close", "double"), ("volume", "double"), ("vwap", "double"),
    ("trades", "bigint"), ("source", "string"), ("validated", "boolean"),
    ("quality_score", "float"), ("validation_notes", "string"), ("gap_detected", "boolean"),
    ("volume_anomaly", "boolean"), ("fetched_at", "timestamp"),
]  # fmt: skip
_SPLIT_COLUMNS = [
    ("symbol", "string"), ("execution_date", "date"), ("split_from", "double"),
    ("split_to", "double"), ("source", "string"), ("fetched_at", "timestamp"),
]  # fmt: skip
_DIVIDEND_COLUMNS = [
    ("symbol", "string"), ("ex_dividend_date", "date"), ("dividend_type", "string"),
    ("cash_amount", "double"), ("currency", "string"), ("declaration_date", "date"),
    ("record_date", "date"), ("pay_date", "date"), ("frequency", "int"), ("source", "string"),
    ("fetched_at", "timestamp"),
]  # fmt: skip

_PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}


def glue_database_name(config: StageConfig) -> str:
    return f"market_data_{config.stage}".replace("-", "_")


def athena_workgroup_name(config: StageConfig) -> str:
    return f"market-data-{config.stage}"


def _bucket(
    scope: Construct, construct_id: str, config: StageConfig, **options: object
) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=config.removal_policy,
        auto_delete_objects=False,
        **options,  # type: ignore[arg-type]
    )


class LakeStorage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = _bucket(
            self, LAKE_LOGS_BUCKET_ID, config,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )  # fmt: skip
        self.lake_bucket = _bucket(
            self,
            LAKE_BUCKET_ID,
            config,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=LAKE_NONCURRENT_RETENTION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.exports_bucket = _bucket(
            self,
            EXPORTS_BUCKET_ID,
            config,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="exports/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireExports",
                    prefix="exports/",
                    expiration=EXPORT_RETENTION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="ExpireAthenaResults",
                    prefix=ATHENA_RESULTS_PREFIX,
                    expiration=ATHENA_RESULTS_RETENTION,
                ),
            ],
        )

        self.database_name = glue_database_name(config)
        self.database = glue.CfnDatabase(
            self,
            GLUE_DATABASE_ID,
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="The market data lake: bars and corporate actions as Parquet",
            ),
        )
        bucket = self.lake_bucket.bucket_name
        self.bars_table = self._table(
            "BarsTable", "bars", _BAR_COLUMNS, f"s3://{bucket}/bars/",
            partitions=[("timeframe", "string"), ("month", "string")],
            parameters={
                # Partition projection: Athena computes the partitions from these
                # rules, so nothing registers them and a new month is queryable at once.
                "projection.enabled": "true",
                "projection.timeframe.type": "enum",
                "projection.timeframe.values": ",".join(TIMEFRAMES),
                "projection.month.type": "date",
                "projection.month.format": "yyyy-MM",
                "projection.month.range": f"{FIRST_MONTH},NOW",
                "projection.month.interval": "1",
                "projection.month.interval.unit": "MONTHS",
                "storage.location.template": (
                    f"s3://{bucket}/bars/timeframe=${{timeframe}}/month=${{month}}/"
                ),
            },
            description="OHLCV bars, raw, with their quality verdict; one file per partition",
        )  # fmt: skip
        self.splits_table = self._table(
            "SplitsTable",
            "splits",
            _SPLIT_COLUMNS,
            f"s3://{bucket}/corporate_actions/splits/",
            description="Stock splits",
        )
        self.dividends_table = self._table(
            "DividendsTable", "dividends", _DIVIDEND_COLUMNS,
            f"s3://{bucket}/corporate_actions/dividends/",
            description="Cash dividends",
        )  # fmt: skip

        self.workgroup_name = athena_workgroup_name(config)
        self.workgroup = athena.CfnWorkGroup(
            self,
            ATHENA_WORKGROUP_ID,
            name=self.workgroup_name,
            description="SQL over the market data lake",
            state="ENABLED",
            recursive_delete_option=config.removal_policy is RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                bytes_scanned_cutoff_per_query=ATHENA_BYTES_SCANNED_CUTOFF,
                publish_cloud_watch_metrics_enabled=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=(
                        f"s3://{self.exports_bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}"
                    ),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _table(
        self,
        construct_id: str,
        name: str,
        columns: list[tuple[str, str]],
        location: str,
        *,
        description: str,
        partitions: list[tuple[str, str]] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> glue.CfnTable:
        table = glue.CfnTable(
            self,
            construct_id,
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "parquet", "EXTERNAL": "TRUE", **(parameters or {})},
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in partitions or []
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in columns],
                    location=location,
                    input_format=_PARQUET["input_format"],
                    output_format=_PARQUET["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=_PARQUET["serde"]
                    ),
                ),
            ),
        )
        table.node.add_dependency(self.database)
        return table


class ExportWorker(Construct):
    """The export queue and the function that works it off (lake writes and exports)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        runtime: LambdaRuntime,
        network: Network,
        storage: LakeStorage,
        skip_bundling: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            EXPORT_DLQ_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            EXPORT_QUEUE_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(EXPORT_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=self.dlq),
        )
        self.layer = lambda_.LayerVersion(
            self,
            LAKE_LAYER_ID,
            code=lake_layer_code(skip_bundling=skip_bundling),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="pyarrow (Parquet) for the export function only (cp312, aarch64)",
        )
        self.function = runtime.add_function(
            self,
            FunctionSpec(
                construct_id=EXPORT_FUNCTION_ID,
                handler=EXPORT_HANDLER,
                service=EXPORT_SERVICE,
                description="Writes the Parquet lake after each run, and the async exports",
                memory_mb=EXPORT_MEMORY_MB,
                timeout=EXPORT_TIMEOUT,
                tmp_mb=EXPORT_TMP_MB,
                subnets=network.app_subnets,
                security_group=network.app_functions_sg,
                environment={
                    "LAKE_BUCKET": storage.lake_bucket.bucket_name,
                    "EXPORTS_BUCKET": storage.exports_bucket.bucket_name,
                    # The longest statement: one partition's COPY.
                    "DB_STATEMENT_TIMEOUT_MS": "600000",
                },
                extra_layers=(self.layer,),
            ),
        )
        # Exactly what the writers call: put (single or multipart) and delete an emptied
        # partition in the lake, and read its manifest of series; put and read records
        # and files of the exports.
        grant_objects(
            self.function, storage.lake_bucket, ("bars/*", "corporate_actions/*"),
            ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"),
        )  # fmt: skip
        grant_objects(
            self.function, storage.lake_bucket, (MANIFEST_KEY,), ("s3:GetObject", "s3:PutObject")
        )
        # A rebuild lists the partitions to remove those no series reaches; listing also
        # makes a manifest not written yet a 404 rather than S3's 403 for a missing key.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[storage.lake_bucket.bucket_arn]
            )
        )
        grant_objects(
            self.function, storage.exports_bucket, ("exports/*",),
            ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
        )  # fmt: skip
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue, batch_size=1, report_batch_item_failures=True, max_concurrency=2
            )
        )


def grant_objects(
    grantee: iam.IGrantable, bucket: s3.IBucket, prefixes: tuple[str, ...], actions: tuple[str, ...]
) -> None:
    """Object actions under key prefixes of one bucket, and nothing else (no bucket-level
    or wildcard actions: the SDK's uploads and presigned GETs need none)."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions),
            resources=[bucket.arn_for_objects(prefix) for prefix in prefixes],
        )
    )


def lake_write_failures() -> cloudwatch.IMetric:
    """LakeWritesFailed from both emitters (the export worker, the backfill worker)."""
    metrics = {
        service: cloudwatch.Metric(
            namespace=metric_names.NAMESPACE,
            metric_name=metric_names.LAKE_WRITES_FAILED,
            dimensions_map={"service": service},
            statistic="Sum",
            period=Duration.minutes(15),
        )
        for service in (EXPORT_SERVICE, BACKFILL_SERVICE)
    }
    return cloudwatch.MathExpression(
        expression="FILL(export, 0) + FILL(backfill, 0)",
        using_metrics={"export": metrics[EXPORT_SERVICE], "backfill": metrics[BACKFILL_SERVICE]},
        label="Lake writes failed",
        period=Duration.minutes(15),
    )
