"""Wiring: the key logic on its DynamoDB adapters, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from market_data.keys.admin import KeyAdmin
from market_data.keys.audit import AuditLog, DynamoAuditLog
from market_data.keys.authenticate import Authenticator
from market_data.keys.aws import RetryPolicy, dynamodb_client, load_pepper
from market_data.keys.format import KeyHasher
from market_data.keys.models import Scope
from market_data.keys.ratelimit import DynamoRateCounter, RateLimiter
from market_data.keys.store import DynamoKeyStore, KeyStore
from market_data.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class KeyServices:
    store: KeyStore
    authenticator: Authenticator
    admin: KeyAdmin
    rate_limiter: RateLimiter
    audit: AuditLog
    clock: Clock


def default_limits(settings: Settings) -> dict[Scope, int]:
    return {
        Scope.READ: settings.rate_limit_read_per_minute,
        Scope.ADMIN: settings.rate_limit_admin_per_minute,
    }


def assemble(
    *,
    store: KeyStore,
    audit: AuditLog,
    rate_limiter: RateLimiter,
    hasher: KeyHasher,
    clock: Clock,
    cache_ttl: timedelta,
) -> KeyServices:
    authenticator = Authenticator(store, hasher, clock, cache_ttl=cache_ttl)
    admin = KeyAdmin(store, hasher, clock, on_change=authenticator.forget)
    return KeyServices(store, authenticator, admin, rate_limiter, audit, clock)


def dynamo_services(
    settings: Settings, *, clock: Clock = utc_now, client: Any | None = None
) -> KeyServices:
    """Key services on the settings' DynamoDB tables. No I/O until first use."""

    def get_client() -> Any:
        return client if client is not None else dynamodb_client(settings)

    retry = RetryPolicy.of(settings)
    return assemble(
        store=DynamoKeyStore(get_client, settings.api_keys_table, retry=retry),
        audit=DynamoAuditLog(
            get_client,
            settings.api_audit_table,
            timedelta(days=settings.api_audit_retention_days),
            retry=retry,
        ),
        rate_limiter=RateLimiter(
            DynamoRateCounter(get_client, settings.rate_limit_table, retry=retry),
            clock,
            default_limits(settings),
        ),
        hasher=KeyHasher(lambda: load_pepper(settings)),
        clock=clock,
        cache_ttl=timedelta(seconds=settings.api_key_cache_ttl_s),
    )


def check_key_tables(settings: Settings) -> None:
    """Raise unless all three key tables answer a read (for /health?deep=true).

    Item reads, not DescribeTable: they need only the permissions the API
    already has, and prove the data plane works.
    """
    client = dynamodb_client(settings)
    probes = {
        settings.api_keys_table: {"key_hash": {"S": "health-check"}},
        settings.api_audit_table: {"key_id": {"S": "health-check"}, "sk": {"S": "0"}},
        settings.rate_limit_table: {"pk": {"S": "health-check"}},
    }
    for table, key in probes.items():
        client.get_item(TableName=table, Key=key)
