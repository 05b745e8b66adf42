"""Per-stage settings, chosen with CDK context: `npx cdk synth -c stage=prod`.

Every field can also be overridden one at a time from context with its own name,
e.g. `-c alarm_email=ops@example.com -c cors_allow_origins=https://a.example,https://b.example
-c polygon_requests_per_minute=300`. Values are validated here, once, so a bad
override fails the synth with a message that names it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node

from infra.constants import CONTEXT_STAGE, DEFAULT_STAGE

NIGHTLY_SCHEDULE = "cron(0 2 * * ? *)"  # 02:00 UTC every day (EventBridge Scheduler, Etc/UTC)


@dataclass(frozen=True)
class StageConfig:
    stage: str

    # Lambda memory (MB). More memory also buys proportionally more CPU, which is
    # what FastAPI/pydantic import time and JSON serialisation are bound by.
    api_memory_mb: int = 1024
    # Lambda SnapStart on the API's published versions (docs/PERFORMANCE.md, "SnapStart").
    api_snap_start: bool = True
    fanout_memory_mb: int = 256
    backfill_memory_mb: int = 512
    migrate_memory_mb: int = 256

    # Concurrency. None = no reservation (new accounts have a 10-concurrency quota,
    # where any reservation fails the deploy). The backfill worker is bounded by the
    # SQS event source's maxConcurrency instead (minimum 2).
    api_reserved_concurrency: int | None = None
    backfill_max_concurrency: int = 2
    backfill_batch_size: int = 5

    # Ingest.
    schedule_expression: str = NIGHTLY_SCHEDULE
    schedule_enabled: bool = True
    # The Polygon plan's request budget for the whole account (free plan: 5/min);
    # each worker gets budget // backfill_max_concurrency.
    polygon_requests_per_minute: int = 5

    # Retention and protection.
    log_retention_days: int = 30
    deletion_protection: bool = False
    backup_retention_days: int = 7

    # Database capacity (Aurora Serverless v2 ACUs). min >= 0.5 so it never auto-pauses
    # under the API (a paused cluster takes ~15 s to resume).
    db_min_capacity: float = 0.5
    db_max_capacity: float = 2.0
    db_reader: bool = False

    # Network: one NAT gateway is a single-AZ egress path (fine for a nightly batch);
    # prod uses one per AZ.
    nat_gateways: int = 1
    # Our OpenTelemetry spans go to X-Ray's OTLP endpoint (market_data.tracing): the
    # functions' environment names it, their roles may send spans, and the interface
    # endpoint carries them out of the isolated subnets (infra/network.py). False
    # leaves Lambda's own active-tracing segments only.
    xray_endpoint: bool = True
    # CloudWatch Transaction Search, which the OTLP endpoint needs, is one setting per
    # account and region: the stage that owns it enables it (prod), others share it.
    transaction_search: bool = False

    # API.
    cors_allow_origins: tuple[str, ...] = ()
    throttling_rate_limit: int = 50
    throttling_burst_limit: int = 100
    waf_rate_limit_per_5min: int = 1000
    log_level: str = "INFO"

    # Alarms.
    alarm_email: str | None = None
    api_p99_latency_threshold_ms: int = 3000
    api_5xx_rate_threshold_pct: int = 5
    db_cpu_threshold_pct: int = 80
    db_connections_threshold: int = 150

    # Derived values ---------------------------------------------------------------
    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def removal_policy(self) -> RemovalPolicy:
        """Stateful resources: kept on `cdk destroy` where deletion protection is on."""
        return RemovalPolicy.RETAIN if self.deletion_protection else RemovalPolicy.DESTROY

    @property
    def database_removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.SNAPSHOT if self.deletion_protection else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @property
    def api_stage_name(self) -> str:
        return self.stage

    @property
    def polygon_requests_per_minute_per_worker(self) -> int:
        return max(1, self.polygon_requests_per_minute // self.backfill_max_concurrency)

    def validate(self) -> StageConfig:
        problems: list[str] = []
        if self.is_prod and "*" in self.cors_allow_origins:
            problems.append("cors_allow_origins: '*' is not allowed in prod")
        if self.db_min_capacity < 0.5:
            problems.append("db_min_capacity: must be >= 0.5 (0 would auto-pause under the API)")
        if self.db_max_capacity < self.db_min_capacity:
            problems.append("db_max_capacity: must be >= db_min_capacity")
        if not 2 <= self.backfill_max_concurrency <= 1000:
            problems.append("backfill_max_concurrency: SQS event sources accept 2..1000")
        if not 1 <= self.backfill_batch_size <= 10:
            problems.append("backfill_batch_size: 1..10 for a standard queue without a window")
        if self.log_retention_days not in _VALID_RETENTION_DAYS:
            problems.append(f"log_retention_days: one of {sorted(_VALID_RETENTION_DAYS)}")
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            problems.append("log_level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
        if self.alarm_email is not None and "@" not in self.alarm_email:
            problems.append("alarm_email: not an email address")
        if problems:
            raise ValueError(f"invalid settings for stage {self.stage!r}: " + "; ".join(problems))
        return self


_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}
_VALID_RETENTION_DAYS = set(_RETENTION_DAYS)

STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(
        stage="dev",
        api_memory_mb=512,
        cors_allow_origins=("http://localhost:8000", "http://127.0.0.1:8000"),
        log_retention_days=14,
        log_level="DEBUG",
    ),
    "prod": StageConfig(
        stage="prod",
        api_memory_mb=1024,
        backfill_memory_mb=512,
        api_reserved_concurrency=50,
        backfill_max_concurrency=5,
        polygon_requests_per_minute=300,
        log_retention_days=90,
        deletion_protection=True,
        backup_retention_days=14,
        db_min_capacity=0.5,
        db_max_capacity=4.0,
        db_reader=True,
        nat_gateways=2,
        transaction_search=True,
        throttling_rate_limit=100,
        throttling_burst_limit=200,
        waf_rate_limit_per_5min=2000,
        api_p99_latency_threshold_ms=2500,
    ),
}


def _parse_override(name: str, current: Any, raw: Any) -> Any:
    """Context values arrive as strings from `-c`, or as JSON values from cdk.json."""
    if isinstance(current, bool):
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in {"true", "1", "yes"}:
            return True
        if str(raw).lower() in {"false", "0", "no"}:
            return False
        raise ValueError(f"{name}: expected true/false, got {raw!r}")
    if isinstance(current, tuple):
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, int) or name in {"api_reserved_concurrency"}:
        return None if str(raw).lower() in {"", "none", "null"} else int(raw)
    if raw is None or str(raw) == "":
        return None
    return str(raw)


def load_stage_config(node: Node) -> StageConfig:
    """The settings of the stage named by `-c stage=...` (default dev), with overrides."""
    stage = str(node.try_get_context(CONTEXT_STAGE) or DEFAULT_STAGE)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)}")
    config = STAGES[stage]
    overrides: dict[str, Any] = {}
    for item in dataclasses.fields(config):
        if item.name == "stage":
            continue
        raw = node.try_get_context(item.name)
        if raw is not None:
            overrides[item.name] = _parse_override(item.name, getattr(config, item.name), raw)
    return replace(config, **overrides).validate()


__all__ = ["NIGHTLY_SCHEDULE", "STAGES", "StageConfig", "load_stage_config"]
