"""Aurora PostgreSQL Serverless v2 and the credentials the functions use.

- Engine PostgreSQL 16 (AURORA_ENGINE_VERSION), storage encrypted, IAM database
  authentication enabled, TLS forced (`rds.force_ssl`), automated backups after
  the nightly run, deletion protection + snapshot-on-delete where the stage asks.
- Master user: the password is managed by RDS in Secrets Manager
  (`ManageMasterUserPassword`), which rotates it automatically (every 7 days);
  only the migrate function may read it.
- Application role `app`: no password anywhere. The migrate function (the only
  holder of the master secret) creates the `app` login role, grants it `rds_iam`
  and DML only (SELECT/INSERT/UPDATE/DELETE on the warehouse tables, via default
  privileges for future ones too; no DDL, no ownership, nothing on
  schema_migrations). The API, fan-out and backfill functions connect as `app`
  with 15-minute IAM auth tokens (`DB_IAM_USER=app`, IAM `rds-db:connect` on that
  one database user), so a compromised function can neither read a password nor
  alter the schema.
- No RDS Proxy: connections are already bounded (API: reserved concurrency x pool
  of 2; backfill: event-source maxConcurrency x pool of 2), well under Serverless
  v2's max_connections (~190 at 1 ACU max, more as max capacity grows), and a proxy
  for Serverless v2 bills a minimum of 8 ACU-hours per hour (more than the
  database itself at 0.5 ACU). Revisit if API concurrency grows past ~100.
- min capacity >= 0.5 ACU: the cluster never auto-pauses (a paused cluster takes
  ~15 s to resume, far beyond the API's latency budget).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    APP_NAME,
    CLUSTER_ID,
    DATABASE_MASTER_USERNAME,
    DATABASE_NAME,
    DATABASE_PORT,
)
from infra.network import Network

AURORA_ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_11
APP_DB_USERNAME = "app"


class Database(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)

        # Fixed identifier so the PostgreSQL log group below can be created (with a
        # retention) before RDS would create it without one.
        self.cluster_identifier = f"{APP_NAME}-{config.stage}".lower()
        postgres_logs = logs.LogGroup(
            self,
            "PostgresLogGroup",
            log_group_name=f"/aws/rds/cluster/{self.cluster_identifier}/postgresql",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )

        readers = (
            [rds.ClusterInstance.serverless_v2("Reader", scale_with_writer=True)]
            if config.db_reader
            else []
        )
        self.cluster = rds.DatabaseCluster(
            self,
            CLUSTER_ID,
            cluster_identifier=self.cluster_identifier,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=AURORA_ENGINE_VERSION),
            writer=rds.ClusterInstance.serverless_v2(
                "Writer", enable_performance_insights=True, publicly_accessible=False
            ),
            readers=readers,
            serverless_v2_min_capacity=config.db_min_capacity,
            serverless_v2_max_capacity=config.db_max_capacity,
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[network.database_sg],
            port=DATABASE_PORT,
            default_database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_username(DATABASE_MASTER_USERNAME),
            manage_master_user_password=True,
            storage_encrypted=True,
            iam_authentication=True,
            parameters={
                "rds.force_ssl": "1",
                # Statements slower than 1 s land in the PostgreSQL log.
                "log_min_duration_statement": "1000",
            },
            # Backups after the 02:00 UTC nightly run has (usually) finished.
            backup=rds.BackupProps(
                retention=Duration.days(config.backup_retention_days),
                preferred_window="04:00-05:00",
            ),
            preferred_maintenance_window="sun:05:30-sun:06:30",
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            removal_policy=config.database_removal_policy,
        )
        self.cluster.node.add_dependency(postgres_logs)

        secret = self.cluster.secret
        if secret is None:  # pragma: no cover - manage_master_user_password always sets it
            raise RuntimeError("the cluster has no master secret")
        self.master_secret = secret

    def grant_app_connect(self, grantee: iam.IGrantable) -> None:
        """`rds-db:connect` as the least-privilege `app` role (IAM auth token)."""
        self.cluster.grant_connect(grantee, APP_DB_USERNAME)

    @property
    def hostname(self) -> str:
        return self.cluster.cluster_endpoint.hostname
