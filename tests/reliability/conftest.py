"""Shared pieces of the reliability suite: problem assertions, seeded data, a wired app,
and a recorder of the SQL the application sends to PostgreSQL.

The fuzzing and bad-input modules share one environment per module (`module_*`
fixtures): a seeded warehouse and key tables, built when a worker starts on the
module's items and built again if it ran other tests in between (pytest tears a
module's fixtures down as soon as the next item belongs to another module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import requests
from fastapi import FastAPI
from psycopg import Connection, sql
from pydantic import SecretStr

from api.auth import get_key_services
from api.routes.admin_backfill import backfill_queue
from api.routes.exports import export_queue, export_store
from devtools.local_aws import create_key_tables
from market_data.keys.models import Scope
from market_data.keys.services import dynamo_services
from market_data.queue import SqsJobQueue
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.conftest import TABLES
from tests.helpers import seed_series, utc
from tests.key_fakes import TEST_PEPPER, ManualClock
from tests.lake.fakes import MemoryExportQueue, MemoryExportStore

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance")
# Rate limits are their own test; the fuzzer and the corpus must not run into them.
UNLIMITED = 1_000_000


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    """An RFC 9457 problem document with one of `statuses` (any 4xx when none given)."""
    code = response.status_code
    if statuses:
        assert code in statuses, f"{code} not in {statuses}: {response.text[:500]}"
    else:
        assert 400 <= code < 500, f"expected a 4xx, got {code}: {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.headers
    body: dict[str, Any] = response.json()
    for member in PROBLEM_MEMBERS:
        assert member in body, f"problem without {member}: {body}"
    assert body["status"] == code
    for internals in ("Traceback", 'File "', "psycopg", "botocore"):
        assert internals not in response.text, f"{internals!r} in an error body"
    return body


def seed_warehouse(conn: Connection[Any]) -> None:
    """A small warehouse: a stock, an ETF and a crypto pair, daily and hourly bars."""
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.H1, utc(2024, 6, 1), utc(2024, 7, 1))
    seed_series(conn, "SPY", AssetClass.ETF, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))


def admin_key_without_limits(key_services: Any) -> str:
    """An admin (and read) key whose rate limit the tests never reach."""
    issued = key_services.admin.create(
        name="reliability admin",
        scopes=[Scope.READ, Scope.ADMIN],
        created_by="tests",
        rate_limit_per_minute=UNLIMITED,
    )
    return str(issued.api_key)


class RecordingSender:
    """SQS for API tests: takes every batch (the queue itself is tested on moto)."""

    def __init__(self) -> None:
        self.sent = 0

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any:
        self.sent += len(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


@contextmanager
def wired(app: FastAPI, key_services: Any) -> Iterator[RecordingSender]:
    """The app with the test's key store and a queue that takes everything."""
    sender = RecordingSender()
    app.dependency_overrides[get_key_services] = lambda: key_services
    queue = SqsJobQueue(sender, "test-queue", threads=1, attempts=1)
    app.dependency_overrides[backfill_queue] = lambda: queue
    exports, export_jobs = MemoryExportStore(), MemoryExportQueue()
    app.dependency_overrides[export_store] = lambda: exports
    app.dependency_overrides[export_queue] = lambda: export_jobs
    try:
        yield sender
    finally:
        app.dependency_overrides.clear()


# --- one environment per module ------------------------------------------------------


@pytest.fixture(scope="module")
def module_conn(settings: Settings) -> Iterator[Connection[Any]]:
    with psycopg.connect(str(settings.database_url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {TABLES}")
        seed_warehouse(connection)
        yield connection


@pytest.fixture(scope="module")
def module_key_services(aws_endpoint: str, settings: Settings) -> Any:
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    key_settings = settings.model_copy(
        update={"aws_endpoint_url": aws_endpoint, "api_key_pepper": SecretStr(TEST_PEPPER.decode())}
    )
    create_key_tables(key_settings)
    return dynamo_services(key_settings, clock=ManualClock())


@pytest.fixture(scope="module")
def module_admin_key(module_key_services: Any) -> str:
    return admin_key_without_limits(module_key_services)


# --- what reaches PostgreSQL ---------------------------------------------------------


class SqlRecorder:
    """The text of every statement psycopg sends (parameters travel apart from it)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def assert_never_contains(self, *values: str) -> None:
        """None of `values` was written into a statement: each went as a parameter."""
        for value in values:
            needle = value.strip().upper()
            if len(needle) < 4:
                continue  # too short to tell an injected value from SQL itself
            # As written, or as a quoted literal (sql.Literal doubles the quotes).
            needles = {needle, needle.replace("'", "''")}
            leaked = [s for s in self.statements if any(n in s.upper() for n in needles)]
            assert not leaked, f"{value[:60]!r} formatted into SQL: {leaked[0][:300]}"


def _statement_text(query: Any, cursor: Any) -> str:
    if isinstance(query, sql.Composable):
        return query.as_string(cursor)
    if isinstance(query, bytes | bytearray | memoryview):
        return bytes(query).decode("utf-8", "replace")
    return str(query)


@pytest.fixture
def sql_recorder(monkeypatch: pytest.MonkeyPatch) -> SqlRecorder:
    """Records statements executed through any psycopg cursor (pool connections too)."""
    recorder = SqlRecorder()
    cursor_class: Any = psycopg.Cursor
    execute, executemany, copy = cursor_class.execute, cursor_class.executemany, cursor_class.copy

    def recording_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        recorder.statements.append(_statement_text(query, self))
        return execute(self, query, *args, **kwargs)

    def recording_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        recorder.statements.append(_statement_text(query, self))
        return executemany(self, query, *args, **kwargs)

    def recording_copy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        recorder.statements.append(_statement_text(statement, self))
        return copy(self, statement, *args, **kwargs)

    monkeypatch.setattr(cursor_class, "execute", recording_execute)
    monkeypatch.setattr(cursor_class, "executemany", recording_executemany)
    monkeypatch.setattr(cursor_class, "copy", recording_copy)
    return recorder


# --- the dead-letter queue --------------------------------------------------------


def dead_letters(dlq_name: str = "backfill-dlq") -> list[str]:
    """The bodies waiting in the dead-letter queue (left there)."""
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in messages.get("Messages", [])]


# --- the CDK app ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def secret_synth(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The prod stage synthesized with secrets lying around in the environment and context."""
    from tests.reliability.secret_synth import synthesize_with_secrets

    return synthesize_with_secrets(tmp_path_factory.mktemp("cdk-secrets"))
