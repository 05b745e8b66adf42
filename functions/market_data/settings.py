"""Runtime configuration, parsed and validated once from the environment.

A missing or malformed variable fails at start with pydantic's message, which
names the variable, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    stage: str = Field(default="local", description="Deployment stage name (local, dev, prod).")

    # PostgreSQL: a URL locally. In AWS the application connects as DB_IAM_USER
    # with short-lived IAM tokens (no password anywhere); only the migrate
    # function reads the master secret (DB_SECRET_ARN) to create that role.
    database_url: str | None = None
    db_secret_arn: str | None = None
    db_iam_user: str | None = None
    db_host: str | None = None
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_name: str = "marketdata"
    db_pool_max_size: int = Field(default=2, ge=1, le=50)
    db_connect_timeout_s: float = Field(default=3.0, gt=0)
    db_statement_timeout_ms: int = Field(default=10_000, gt=0)

    # Market data vendor.
    market_data_provider: Literal["polygon", "synthetic"] = "synthetic"
    polygon_api_key: str | None = None
    polygon_secret_arn: str | None = None
    polygon_base_url: AnyHttpUrl = AnyHttpUrl("https://api.polygon.io")
    polygon_requests_per_minute: int = Field(default=5, ge=1, le=60_000)

    # AWS resources (emulated by moto locally when AWS_ENDPOINT_URL is set).
    aws_endpoint_url: str | None = None
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    api_keys_table: str = "mdw-api-keys"
    api_audit_table: str = "mdw-api-audit"
    rate_limit_table: str = "mdw-rate-limits"
    backfill_queue_url: str | None = None
    # The backfill queue's dead-letter queue: where a worker puts a re-sent job that
    # gave up, and what /api/v1/metrics reports the depth of.
    backfill_dlq_url: str | None = None
    # The fan-out function the admin API hands whole-universe backfills to (invoked
    # asynchronously); without it they are planned in a thread of the API process.
    fanout_function_name: str | None = None

    # The lake (Parquet in S3, written after each backfill run) and the async
    # exports (results in their own bucket, work on the export queue).
    lake_bucket: str | None = None
    exports_bucket: str | None = None
    export_queue_url: str | None = None
    # An export request estimated over either limit is refused (with the estimate).
    export_max_rows: int = Field(default=200_000_000, ge=1)
    export_max_bytes: int = Field(default=20 * 1024**3, ge=1)
    export_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # Locally: a directory the lake's objects are mirrored into (what make sql reads).
    lake_mirror_dir: str | None = None

    # HTTP API.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Pages served from any loopback origin (http://127.0.0.1:<port>, localhost, [::1])
    # may read the API: on by default on the local stage, so a dashboard served from a
    # second local port works out of the box with make dev; off elsewhere, refused in prod.
    cors_allow_loopback: bool | None = None
    require_read_key: bool = False

    # API keys: stored as HMAC-SHA256(pepper, key). The pepper comes from
    # API_KEY_PEPPER locally, or in AWS from the Secrets Manager secret named by
    # API_KEY_PEPPER_SECRET_ARN (read once per process). Only the key store needs
    # it, so it is checked when keys are first used, not by every function.
    api_key_pepper: SecretStr | None = None
    api_key_pepper_secret_arn: str | None = None
    # How long one Lambda instance trusts a key it looked up; bounds how late a
    # revocation takes effect (at most 60 s by design).
    api_key_cache_ttl_s: int = Field(default=30, ge=0, le=60)
    rate_limit_read_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    rate_limit_admin_per_minute: int = Field(default=120, ge=1, le=1_000_000)
    api_audit_retention_days: int = Field(default=400, ge=1, le=3650)
    # Refused calls (a bad key, a missing scope) are audited after the response, one
    # write attempt each and at most this many at a time per process (a Lambda
    # instance serves one request at a time anyway); the rest are dropped, logged
    # and counted, so a flood of bad keys cannot pile up audit writes.
    api_audit_refusals_in_flight: int = Field(default=8, ge=1, le=256)

    # DynamoDB (keys, audit, rate limits) sits in front of every keyed request, so a
    # refusal under throttling or an outage must come fast (503, Retry-After). The
    # SDK's own retries are off (they back off up to 1 + 2 s); ours stop once the
    # budget is spent, and every attempt is bounded by the two timeouts. DynamoDB
    # answers single-item calls in milliseconds: these leave room for a cold TLS
    # connection and a 1 MB query page.
    dynamodb_connect_timeout_s: float = Field(default=0.25, gt=0, le=10)
    dynamodb_read_timeout_s: float = Field(default=0.5, gt=0, le=30)
    dynamodb_max_attempts: int = Field(default=3, ge=1, le=10)
    dynamodb_retry_budget_s: float = Field(default=0.3, ge=0, le=10)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Whether the nightly 02:00 UTC backfill schedule is on: the stage's EventBridge
    # schedule in AWS (the CDK app passes its state), make dev's own timer locally. The
    # status endpoints report it (scheduler_status "running" / "stopped").
    nightly_schedule_enabled: bool = True

    # Backfill planning.
    initial_history_days_daily: int = Field(default=5 * 365, ge=1)
    initial_history_days_intraday: int = Field(default=90, ge=1)

    # Backfill pipeline: planning, the SQS hand-off, the worker and the Polygon client.
    # Bars re-fetched before the last stored one, so a bar that was still forming
    # when it was stored (or that the vendor revised) is written again.
    backfill_overlap_bars: int = Field(default=2, ge=0, le=1000)
    # Longest range one intraday job covers, so a job fits in one worker invocation.
    backfill_max_job_days_intraday: int = Field(default=31, ge=1)
    # Must match the queue's redrive policy: on the last delivery a failing job is
    # recorded as failed (the message still goes to the dead-letter queue).
    backfill_max_receive_count: int = Field(default=5, ge=1)
    # A job waiting out an open vendor circuit is re-sent with at most this delay
    # (SQS allows 900 s); it waits again if the circuit is still open then.
    backfill_max_delay_s: int = Field(default=900, ge=0, le=900)
    # The stuck-job check (market_data.recovery). A job recorded but not sent after
    # this long was lost by a fan-out that died between recording and sending:
    # several times the fan-out's timeout (2 minutes).
    backfill_unsent_after_s: int = Field(default=600, ge=1)
    # A job `running` (or `retrying`) untouched for this long has no message any
    # more: longer than every delivery's visibility timeout (6 x the worker's
    # timeout) x the deliveries the queue allows, 1 h x 5 as deployed.
    backfill_stuck_after_s: int = Field(default=5 * 3600 + 600, ge=1)
    # A `queued` job sent this long ago has outlived its message (the queue's retention).
    backfill_message_retention_s: int = Field(default=4 * 86400, ge=1)
    fanout_send_threads: int = Field(default=8, ge=1, le=64)
    fanout_send_attempts: int = Field(default=3, ge=1, le=10)
    polygon_timeout_s: float = Field(default=20.0, gt=0)
    polygon_max_retries: int = Field(default=5, ge=0, le=20)
    polygon_backoff_factor_s: float = Field(default=2.0, ge=0)
    polygon_backoff_max_s: float = Field(default=60.0, ge=0)
    polygon_backoff_jitter_s: float = Field(default=1.0, ge=0)
    polygon_retry_after_max_s: int = Field(default=120, ge=0)
    polygon_intraday_chunk_days: int = Field(default=30, ge=1, le=366)
    # Shared circuit breaker (state in PostgreSQL): after this many jobs in a row
    # fail on vendor errors, every worker leaves Polygon alone for the open period.
    vendor_circuit_failure_threshold: int = Field(default=5, ge=1)
    vendor_circuit_open_s: int = Field(default=300, ge=1)

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def cors_loopback_allowed(self) -> bool:
        if self.cors_allow_loopback is None:
            return self.stage == "local"
        return self.cors_allow_loopback

    @model_validator(mode="after")
    def _cors_is_safe(self) -> Settings:
        if self.stage == "prod" and ("*" in self.cors_allow_origins or self.cors_allow_loopback):
            raise ValueError("CORS_ALLOW_ORIGINS='*' and CORS_ALLOW_LOOPBACK are refused in prod")
        return self

    @model_validator(mode="after")
    def _database_is_configured(self) -> Settings:
        credentials = self.db_secret_arn or self.db_iam_user
        if not self.database_url and not (self.db_host and credentials):
            raise ValueError("set DATABASE_URL, or DB_HOST with DB_IAM_USER or DB_SECRET_ARN")
        return self


class SettingsSource:
    """A Lambda process's settings: parsed from its environment on first use, unless
    whoever runs it (make dev, a test) hands it a Settings of its own first."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def get(self) -> Settings:
        if self._settings is None:
            self._settings = Settings()
        return self._settings

    def use(self, settings: Settings | None) -> None:
        """Run with these settings from now on (None: the environment's again)."""
        self._settings = settings
