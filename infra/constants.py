"""Names the stacks, constructs and outputs are built with.

Tests, docs and scripts import these instead of repeating string literals, so a
rename here is a rename everywhere (and a renamed construct id is a replaced
resource: change the stateful ones with care).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
REQUIREMENTS_FILE = REPO_ROOT / "requirements.txt"
LAYER_DIR = REPO_ROOT / "layers" / "deps"
# The export function's own layer: the Parquet library, too heavy for the shared one.
LAKE_REQUIREMENTS_FILE = REPO_ROOT / "requirements-lake.txt"
LAKE_LAYER_DIR = REPO_ROOT / "layers" / "lake"

APP_NAME = "MarketDataWarehouse"

# --- CDK context keys --------------------------------------------------------
CONTEXT_STAGE = "stage"
CONTEXT_SKIP_BUNDLING = "skip_bundling"
CONTEXT_SAM_LOCAL = "sam_local"
CONTEXT_ALARM_EMAIL = "alarm_email"
CONTEXT_CORS_ALLOW_ORIGINS = "cors_allow_origins"
DEFAULT_STAGE = "dev"


def stateful_stack_name(stage: str) -> str:
    """VPC, Aurora, DynamoDB tables and secrets: deployed rarely, retained on teardown in prod."""
    return f"{APP_NAME}-{stage}-Stateful"


def stateless_stack_name(stage: str) -> str:
    """Lambdas, API, ingest and monitoring: safe to destroy and recreate at any time."""
    return f"{APP_NAME}-{stage}-Stateless"


# --- construct ids (stateful stack) -------------------------------------------
NETWORK_ID = "Network"
VPC_ID = "Vpc"
DATABASE_ID = "Database"
CLUSTER_ID = "Cluster"
KEYS_ID = "Keys"
TRANSACTION_SEARCH_ID = "TransactionSearch"
API_KEYS_TABLE_ID = "ApiKeysTable"
API_AUDIT_TABLE_ID = "ApiAuditTable"
RATE_LIMIT_TABLE_ID = "RateLimitTable"
PEPPER_SECRET_ID = "ApiKeyPepperSecret"  # noqa: S105 - a construct/output name
PROVIDER_ID = "MarketDataProvider"
POLYGON_SECRET_ID = "PolygonApiKeySecret"  # noqa: S105 - a construct/output name

# --- construct ids (stateless stack) ------------------------------------------
RUNTIME_ID = "Runtime"
API_ID = "Api"
REST_API_ID = "RestApi"
WEB_ACL_ID = "WebAcl"
INGEST_ID = "Ingest"
BACKFILL_QUEUE_ID = "BackfillQueue"
BACKFILL_DLQ_ID = "BackfillDeadLetterQueue"
SCHEDULE_DLQ_ID = "ScheduleDeadLetterQueue"
NIGHTLY_SCHEDULE_ID = "NightlySchedule"
STUCK_JOBS_SCHEDULE_ID = "StuckJobsSchedule"
MIGRATIONS_ID = "Migrations"
MIGRATE_TRIGGER_ID = "MigrateTrigger"
MONITORING_ID = "Monitoring"
ALARM_TOPIC_ID = "AlarmTopic"
DASHBOARD_ID = "Dashboard"

# Function construct ids; the Lambda logical ids in the template start with these.
API_FUNCTION_ID = "ApiFunction"
FANOUT_FUNCTION_ID = "FanoutFunction"
BACKFILL_FUNCTION_ID = "BackfillFunction"
MIGRATE_FUNCTION_ID = "MigrateFunction"
EXPORT_FUNCTION_ID = "ExportFunction"
LAKE_ID = "Lake"
LAKE_BUCKET_ID = "LakeBucket"
LAKE_LOGS_BUCKET_ID = "LakeAccessLogsBucket"
EXPORTS_BUCKET_ID = "ExportsBucket"
GLUE_DATABASE_ID = "LakeDatabase"
ATHENA_WORKGROUP_ID = "AthenaWorkGroup"
EXPORT_WORKER_ID = "ExportWorker"
EXPORT_QUEUE_ID = "ExportQueue"
EXPORT_DLQ_ID = "ExportDeadLetterQueue"
LAKE_LAYER_ID = "LakeLayer"
DEPENDENCY_LAYER_ID = "DependencyLayer"

# --- handlers (one code asset: functions/) -------------------------------------
API_HANDLER = "api.handler.lambda_handler"
FANOUT_HANDLER = "fanout.handler.lambda_handler"
BACKFILL_HANDLER = "backfill.handler.lambda_handler"
MIGRATE_HANDLER = "migrate.handler.lambda_handler"
EXPORT_HANDLER = "export.handler.lambda_handler"

# Powertools service names; also the `service` dimension of the custom metrics.
API_SERVICE = "api"
FANOUT_SERVICE = "fanout"
BACKFILL_SERVICE = "backfill"
MIGRATE_SERVICE = "migrate"
EXPORT_SERVICE = "export"

# Custom metric names: market_data.metric_names, which the handlers emit with.

# --- stack outputs ------------------------------------------------------------
OUTPUT_API_URL = "ApiUrl"
OUTPUT_DASHBOARD_URL = "DashboardUrl"
OUTPUT_CLOUDWATCH_DASHBOARD = "CloudWatchDashboardUrl"
OUTPUT_BACKFILL_QUEUE_URL = "BackfillQueueUrl"
OUTPUT_BACKFILL_DLQ_ARN = "BackfillDeadLetterQueueArn"
OUTPUT_API_FUNCTION = "ApiFunctionName"
OUTPUT_FANOUT_FUNCTION = "FanoutFunctionName"
OUTPUT_BACKFILL_FUNCTION = "BackfillFunctionName"
OUTPUT_MIGRATE_FUNCTION = "MigrateFunctionName"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_API_KEYS_TABLE = "ApiKeysTableName"
OUTPUT_API_AUDIT_TABLE = "ApiAuditTableName"
OUTPUT_RATE_LIMIT_TABLE = "RateLimitTableName"
OUTPUT_PEPPER_SECRET_ARN = "ApiKeyPepperSecretArn"  # noqa: S105 - a construct/output name
OUTPUT_POLYGON_SECRET_ARN = "PolygonSecretArn"  # noqa: S105 - a construct/output name
OUTPUT_DB_SECRET_ARN = "DatabaseSecretArn"  # noqa: S105 - a construct/output name
OUTPUT_DB_ENDPOINT = "DatabaseEndpoint"
OUTPUT_LAKE_BUCKET = "LakeBucketName"
OUTPUT_EXPORTS_BUCKET = "ExportsBucketName"
OUTPUT_GLUE_DATABASE = "LakeGlueDatabase"
OUTPUT_ATHENA_WORKGROUP = "AthenaWorkGroupName"
OUTPUT_EXPORT_QUEUE_URL = "ExportQueueUrl"
OUTPUT_EXPORT_FUNCTION = "ExportFunctionName"

# --- DynamoDB key schema (the key store in functions/ relies on these) -----------
API_KEYS_PARTITION_KEY = "key_hash"
API_KEYS_BY_ID_INDEX = "by_id"
API_KEYS_BY_ID_KEY = "key_id"
API_AUDIT_PARTITION_KEY = "key_id"
API_AUDIT_SORT_KEY = "sk"
RATE_LIMIT_PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "ttl"

DATABASE_NAME = "marketdata"
DATABASE_PORT = 5432
DATABASE_MASTER_USERNAME = "mdw_admin"
