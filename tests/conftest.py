"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL), migrated once per worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo

from devtools.local_aws import start_aws, use_emulator_timeouts
from devtools.local_pg import start_postgres
from market_data import db
from market_data.migrations import apply_migrations
from market_data.repositories.bars import series_stats_drift
from market_data.settings import Settings

TABLES = "bars, series_stats, symbols, backfill_jobs, backfill_runs, splits, dividends"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    server_url, server = start_postgres(tmp_path_factory.getbasetemp() / "pgdata")
    name = f"mdw_test_{worker_id}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn)
    yield url
    del server  # stops with the process


@pytest.fixture(scope="session")
def settings(database_url: str) -> Iterator[Settings]:
    # Handlers that build their own Settings (an API Gateway event through
    # api.handler) read the database from the environment, as in Lambda.
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MarketDataWarehouse")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "market-data-test")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    use_emulator_timeouts()  # tests/reliability/test_refusal_time.py measures the real ones
    yield Settings(database_url=database_url)
    db.close_pool()


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A connection to an empty warehouse (tables truncated before each test).

    Afterwards series_stats, kept by deltas on the write path, must equal a recount
    of the bars the test left: every test that writes bars checks the deltas."""
    with psycopg.connect(str(settings.database_url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {TABLES}")
        yield connection
        assert series_stats_drift(connection) == []


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection[Any]) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def aws_endpoint(settings: Settings) -> Iterator[str]:
    """moto's server on loopback for this worker; AWS_ENDPOINT_URL points at it."""
    endpoint, server = start_aws()
    # boto3 clients the tests create themselves reach moto through this.
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    server.stop()


@pytest.fixture
def aws(aws_endpoint: str) -> str:
    """Emulated AWS with no resources left over from an earlier test."""
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    return aws_endpoint


# --- backfill pipeline --------------------------------------------------------------


@pytest.fixture
def pipeline_conn(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """An empty warehouse whose vendor circuit breaker is closed, too."""
    conn.execute("TRUNCATE vendor_circuit")
    return conn


@pytest.fixture
def fake_polygon() -> Iterator[Any]:
    """A scripted Polygon aggregates API on loopback (tests/fake_polygon.py)."""
    from tests.fake_polygon import FakePolygon

    server = FakePolygon()
    yield server
    server.close()


@pytest.fixture
def backfill_queue(aws: str) -> str:
    """An emulated backfill queue (redrive to a DLQ after 5 receives)."""
    import json

    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws)
    dlq_url = sqs.create_queue(QueueName="backfill-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    dlq_arn = attributes["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    return str(
        sqs.create_queue(QueueName="backfill", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    )


@pytest.fixture
def pipeline_settings(settings: Settings, aws: str, backfill_queue: str) -> Settings:
    """The test warehouse's settings with the emulated AWS and backfill queue."""
    return settings.model_copy(
        update={"aws_endpoint_url": aws, "backfill_queue_url": backfill_queue}
    )


@pytest.fixture
def handlers(pipeline_settings: Settings) -> Iterator[Any]:
    """The fan-out and backfill handlers, running with pipeline_settings (reset afterwards).

    Tests that need other settings call `handlers.use(settings)` themselves.
    """
    from backfill import handler as backfill_handler
    from fanout import handler as fanout_handler

    class Handlers:
        fanout = fanout_handler
        backfill = backfill_handler

        @staticmethod
        def use(config: Settings | None) -> None:
            fanout_handler.settings.use(config)
            backfill_handler.use_settings(config)

    Handlers.use(pipeline_settings)
    yield Handlers
    Handlers.use(None)


# --- API keys -----------------------------------------------------------------------


@pytest.fixture
def key_settings(settings: Settings, aws: str) -> Settings:
    """Settings for the key store on emulated DynamoDB, its three tables created."""
    from pydantic import SecretStr

    from devtools.local_aws import create_key_tables
    from tests.key_fakes import TEST_PEPPER

    configured = settings.model_copy(
        update={"aws_endpoint_url": aws, "api_key_pepper": SecretStr(TEST_PEPPER.decode())}
    )
    create_key_tables(configured)
    return configured


@pytest.fixture
def key_clock() -> Any:
    """The clock the key services read; tests move it instead of sleeping."""
    from tests.key_fakes import ManualClock

    return ManualClock()


@pytest.fixture
def key_dynamodb(key_settings: Settings) -> Any:
    """The DynamoDB client key_services uses (spy on it, or read the tables)."""
    from market_data.keys.aws import new_dynamodb_client

    return new_dynamodb_client(key_settings)


@pytest.fixture
def key_services(key_settings: Settings, key_clock: Any, key_dynamodb: Any) -> Any:
    """Key services on moto, with the test's clock."""
    from market_data.keys.services import dynamo_services

    return dynamo_services(key_settings, clock=key_clock, client=key_dynamodb)


@pytest.fixture
def admin_key(key_services: Any) -> str:
    """An admin (and read) key in the emulated key table."""
    from market_data.keys.models import Scope

    issued = key_services.admin.create(
        name="test admin", scopes=[Scope.READ, Scope.ADMIN], created_by="tests"
    )
    return str(issued.api_key)


@pytest.fixture
def keyed_client(client: TestClient, key_services: Any) -> Iterator[TestClient]:
    """The API client, authenticating against key_services."""
    from api.auth import get_key_services

    overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_key_services] = lambda: key_services
    yield client
    overrides.pop(get_key_services, None)
