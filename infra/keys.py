"""DynamoDB tables of the API-key store, and the pepper the key hashes are keyed with.

All tables: on-demand, point-in-time recovery, encrypted with the AWS-managed
key (a customer key would add a cross-stack key-policy dependency and cost for no
gain here), a `ttl` attribute (expired keys, old audit events, rate-limit
windows expire by themselves), deletion protection where the stage asks.

- api-keys: pk `key_hash` (HMAC-SHA256 of the key with the pepper; the key itself
  is never stored); GSI `by_id` on `key_id` for the admin endpoints.
- api-audit: pk `key_id`, sk `sk` (timestamp#event) — an append-only trail.
- rate-limit: pk `pk` (key id or client + window), counters with a short TTL.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    API_AUDIT_PARTITION_KEY,
    API_AUDIT_SORT_KEY,
    API_AUDIT_TABLE_ID,
    API_KEYS_BY_ID_INDEX,
    API_KEYS_BY_ID_KEY,
    API_KEYS_PARTITION_KEY,
    API_KEYS_TABLE_ID,
    PEPPER_SECRET_ID,
    RATE_LIMIT_PARTITION_KEY,
    RATE_LIMIT_TABLE_ID,
    TTL_ATTRIBUTE,
)


def _string_key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class Keys(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)

        self.api_keys_table = self._table(
            API_KEYS_TABLE_ID, config, partition_key=API_KEYS_PARTITION_KEY
        )
        self.api_keys_table.add_global_secondary_index(
            index_name=API_KEYS_BY_ID_INDEX,
            partition_key=_string_key(API_KEYS_BY_ID_KEY),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.api_audit_table = self._table(
            API_AUDIT_TABLE_ID,
            config,
            partition_key=API_AUDIT_PARTITION_KEY,
            sort_key=API_AUDIT_SORT_KEY,
        )
        self.rate_limit_table = self._table(
            RATE_LIMIT_TABLE_ID, config, partition_key=RATE_LIMIT_PARTITION_KEY
        )

        # Changing the pepper invalidates every issued key, so it is generated once
        # and never rotated automatically (see the cdk-nag suppression).
        self.pepper_secret = secretsmanager.Secret(
            self,
            PEPPER_SECRET_ID,
            description="Pepper (HMAC key) for hashing API keys; rotating it revokes all keys",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=config.removal_policy,
        )

    @property
    def tables(self) -> list[dynamodb.Table]:
        return [self.api_keys_table, self.api_audit_table, self.rate_limit_table]

    def _table(
        self,
        construct_id: str,
        config: StageConfig,
        *,
        partition_key: str,
        sort_key: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=_string_key(partition_key),
            sort_key=_string_key(sort_key) if sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal_policy,
        )
