"""PostgreSQL stops mid-run: the API answers 503 with Retry-After and recovers by itself;
a backfill job caught in flight is retried and stores every bar exactly once.

The database here is a server of the module's own (StoppablePostgres), stopped
the way a crash or failover stops it (`pg_ctl -m immediate`), so other tests keep
theirs. The application's process-wide pool is pointed at it for each test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import boto3
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool, PoolTimeout

from api.app import create_app
from market_data import db
from market_data.circuit import ClosedCircuit
from market_data.migrations import apply_migrations
from market_data.planning import rules_from_settings
from market_data.providers import FetchResult
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.jobs import PostgresBackfillStore, PostgresRunStore, get_job
from market_data.repositories.symbols import add_symbols
from market_data.runs import launch_run
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import job_queue
from market_data.worker import Worker
from tests.conftest import TABLES
from tests.helpers import utc
from tests.pipeline import deliver
from tests.reliability.conftest import assert_problem, dead_letters, seed_warehouse
from tests.reliability.stoppable_postgres import StoppablePostgres

# A server of its own, stopped and started: seconds per test, bounded by RECOVERY_BOUND_S.
pytestmark = pytest.mark.slow

# How long the API may take to serve again once PostgreSQL is back: the pool
# retries connections with backoff from 1 s, so a few seconds; 20 is the bound.
RECOVERY_BOUND_S = 20.0


@pytest.fixture(scope="module")
def outage_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppablePostgres]:
    server = StoppablePostgres(tmp_path_factory.mktemp("outage") / "pgdata")
    with psycopg.connect(server.url, autocommit=True) as conn:
        apply_migrations(conn)
    yield server
    server.close()


@dataclass
class Outage:
    server: StoppablePostgres
    settings: Settings
    pool: ConnectionPool[Any]

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.server.url, autocommit=True)


@pytest.fixture
def outage(
    outage_pg: StoppablePostgres, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Outage]:
    """The module's server, running and empty, behind the process-wide pool."""
    if not outage_pg.running:
        outage_pg.start()
    with psycopg.connect(outage_pg.url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES}, vendor_circuit")
    # A short connect timeout, so a refused request takes a second, not three.
    outage_settings = settings.model_copy(
        update={"database_url": outage_pg.url, "db_connect_timeout_s": 1.0}
    )
    pool = db.create_pool(outage_settings)
    monkeypatch.setattr(db, "_pool", pool)
    yield Outage(outage_pg, outage_settings, pool)
    pool.close()
    if not outage_pg.running:
        outage_pg.start()


def wait_until(condition: Callable[[], bool], bound_s: float) -> float:
    """Seconds until `condition()` held; fails after `bound_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > bound_s:
            pytest.fail(f"not recovered within {bound_s} s")
        time.sleep(0.2)
    return time.monotonic() - started


def pool_serves(pool: ConnectionPool[Any]) -> bool:
    try:
        with pool.connection(timeout=1) as conn:
            conn.execute("SELECT 1")
    except (psycopg.OperationalError, PoolTimeout):
        return False
    return True


READS = (
    "/api/v1/symbols",
    "/api/v1/symbols/detailed",
    "/api/v1/status",
    "/api/v1/metrics",
    "/api/v1/historical/AAPL?start=2024-03-01&end=2024-03-31",
)


def test_the_api_answers_503_with_retry_after_while_postgres_is_down_and_recovers_by_itself(
    outage: Outage,
) -> None:
    with outage.connect() as conn:
        seed_warehouse(conn)
    client = TestClient(create_app(outage.settings), raise_server_exceptions=False)
    before = {path: client.get(path).json() for path in READS}
    assert all("status" not in body or body["status"] != 503 for body in before.values())

    outage.server.stop()
    for path in READS:
        started = time.monotonic()
        response = client.get(path)
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == "5"
        assert body["type"].endswith("/database-unavailable")
        assert time.monotonic() - started < 5, "a refusal must not hang the caller"
    deep = client.get("/health", params={"deep": "true"})
    assert deep.status_code == 503
    assert deep.json()["checks"]["database"].startswith("unavailable")
    assert client.get("/health").status_code == 200  # liveness needs no database

    outage.server.start()
    took = wait_until(lambda: client.get("/api/v1/symbols").status_code == 200, RECOVERY_BOUND_S)
    print(f"\nAPI served again {took:.1f} s after PostgreSQL came back")
    after = {path: client.get(path).json() for path in READS}
    for path in ("/api/v1/symbols", "/api/v1/historical/AAPL?start=2024-03-01&end=2024-03-31"):
        assert after[path] == before[path], f"{path} changed across the outage"


class StopsPostgresMidFetch:
    """The synthetic vendor, but PostgreSQL goes down while the first fetch is in flight."""

    source = "synthetic"

    def __init__(self, server: StoppablePostgres) -> None:
        self.server = server
        self.fetches = 0
        self._bars = SyntheticProvider()

    def fetch_bars(
        self, symbol: str, asset_class: AssetClass, timeframe: Timeframe, start: datetime,
        end: datetime,
    ) -> FetchResult:  # fmt: skip
        self.fetches += 1
        if self.fetches == 1:
            self.server.stop()
        return self._bars.fetch_bars(symbol, asset_class, timeframe, start, end)


@pytest.fixture
def outage_worker(
    outage: Outage, backfill_queue: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[ModuleType, StopsPostgresMidFetch]:
    from backfill import handler

    provider = StopsPostgresMidFetch(outage.server)
    worker = Worker(provider, PostgresBackfillStore(outage.pool.connection), ClosedCircuit(), 5)
    monkeypatch.setattr(handler, "worker", lambda: worker)
    return handler, provider


def test_a_backfill_job_caught_by_an_outage_is_retried_and_stores_every_bar_exactly_once(
    outage: Outage,
    outage_worker: tuple[ModuleType, StopsPostgresMidFetch],
    backfill_queue: str,
) -> None:
    handler, provider = outage_worker
    start, end = utc(2024, 3, 1), utc(2024, 3, 11)
    with outage.connect() as conn:
        add_symbols(conn, [("BTC-USD", AssetClass.CRYPTO)], [Timeframe.H1])
    launched = launch_run(
        rules_from_settings(outage.settings), PostgresRunStore(outage.pool.connection),
        job_queue(outage.settings, boto3.client("sqs"), backfill_queue),
        trigger="admin", symbols=["BTC-USD"], start=start, end=end,
    )  # fmt: skip
    [job] = launched.jobs

    assert len(deliver(handler, backfill_queue)) == 1, "the job in flight must go back"
    assert not outage.server.running
    outage.server.start()
    # SQS redelivers after the visibility timeout (minutes in AWS); here, once the
    # pool serves again.
    wait_until(lambda: pool_serves(outage.pool), RECOVERY_BOUND_S)
    assert deliver(handler, backfill_queue) == []

    expected = (
        SyntheticProvider().fetch_bars("BTC-USD", AssetClass.CRYPTO, Timeframe.H1, start, end).bars
    )
    with outage.connect() as conn:
        stored = conn.execute(
            "SELECT time, open, high, low, close, volume FROM bars "
            "WHERE symbol = 'BTC-USD' AND timeframe = '1h' ORDER BY time"
        ).fetchall()
        record = get_job(conn, job.job_id)
        stats = conn.execute("SELECT records FROM series_stats WHERE symbol = 'BTC-USD'").fetchone()
    assert stored == [(b.time, b.open, b.high, b.low, b.close, b.volume) for b in expected]
    assert stats == (len(expected),)
    assert record is not None and record.status == "succeeded"
    assert record.attempts == 2 and record.bars_upserted == len(expected)
    assert provider.fetches == 2
    assert dead_letters() == []


def test_a_job_for_an_unknown_run_after_a_restore_ends_in_the_dlq_not_in_a_loop(
    outage: Outage,
    outage_worker: tuple[ModuleType, StopsPostgresMidFetch],
    backfill_queue: str,
) -> None:
    """A message whose job the (restored) database no longer knows cannot be recorded
    anywhere: it is retried to the redrive limit and parked in the DLQ for a person."""
    handler, provider = outage_worker
    orphan = {
        "job_id": str(uuid.uuid4()), "run_id": str(uuid.uuid4()), "symbol": "AAPL",
        "asset_class": "stock", "timeframe": "1d", "start": "2024-03-01T00:00:00Z",
        "end": "2024-03-08T00:00:00Z",
    }  # fmt: skip
    boto3.client("sqs").send_message(QueueUrl=backfill_queue, MessageBody=json.dumps(orphan))
    for _ in range(5):
        assert len(deliver(handler, backfill_queue)) == 1
    assert deliver(handler, backfill_queue) == []
    assert [json.loads(body)["job_id"] for body in dead_letters()] == [orphan["job_id"]]
    assert provider.fetches == 0, "an unknown job must not spend the vendor budget"
