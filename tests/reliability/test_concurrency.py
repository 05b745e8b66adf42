"""Several workers at once on the same series and overlapping ranges, and migrations
started twice at once.

Each worker is a thread with connections of its own (as Lambda environments
have), started together behind a barrier. Whatever the interleaving, the run
must end (no deadlock: every future has a deadline), every job succeed, and the
tables equal those of the same jobs run one after another.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import Connection
from psycopg.conninfo import make_conninfo

from devtools.lambda_context import FakeLambdaContext, load_event
from devtools.synthetic_load import load_series
from market_data.circuit import ClosedCircuit
from market_data.migrations import available_migrations
from market_data.planning import BackfillJob
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.jobs import PostgresBackfillStore, record_run
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.worker import JobOutcome, Worker
from tests.helpers import utc

WORKERS = 6
DEADLINE_S = 120  # far above a normal run (seconds); reaching it means a hang
SERIES = [("BTC-USD", AssetClass.CRYPTO, Timeframe.H1), ("AAPL", AssetClass.STOCK, Timeframe.M15)]
# Overlapping windows over March 2024: each bar is written by two to four jobs.
WINDOWS = [(1, 12), (5, 20), (10, 25), (1, 31), (15, 31), (8, 16)]
# Everything but fetched_at, which is the time of the write.
BAR_COLUMNS = (
    "symbol, timeframe, time, open, high, low, close, volume, vwap, trades, source, validated, "
    "quality_score, validation_notes, gap_detected, volume_anomaly"
)


def plan_jobs(conn: Connection[Any]) -> list[BackfillJob]:
    add_symbols(conn, [(s, a) for s, a, _ in SERIES], [t for _, _, t in SERIES])
    run_id = uuid.uuid4()
    jobs = [
        BackfillJob(
            job_id=uuid.uuid4(),
            run_id=run_id,
            symbol=symbol,
            asset_class=asset_class,
            timeframe=timeframe,
            start=utc(2024, 3, first),
            end=utc(2024, 3, last),
        )
        for symbol, asset_class, timeframe in SERIES
        for first, last in WINDOWS
    ]
    record_run(conn, run_id, "admin", jobs)
    return jobs


def new_worker(url: str) -> Worker:
    """A worker as one Lambda environment has it: its own connections to PostgreSQL."""
    store = PostgresBackfillStore(lambda: psycopg.connect(url, autocommit=True))
    return Worker(SyntheticProvider(), store, ClosedCircuit())


def warehouse_state(conn: Connection[Any]) -> dict[str, Any]:
    def digest(query: str) -> str:
        row = conn.execute(
            f"SELECT md5(string_agg(r::text, '|' ORDER BY r::text)) FROM ({query}) r"
        )
        return str(row.fetchone())

    return {
        "bars": digest(f"SELECT {BAR_COLUMNS} FROM bars"),
        "bar count": conn.execute("SELECT count(*) FROM bars").fetchone(),
        "series stats": digest(
            "SELECT symbol, timeframe, records, validated_records, gap_records, first_time, "
            "last_time FROM series_stats"
        ),
        "jobs": conn.execute(
            "SELECT status, count(*) FROM backfill_jobs GROUP BY status ORDER BY status"
        ).fetchall(),
    }


def run_concurrently(url: str, jobs: list[BackfillJob], rounds: int) -> list[JobOutcome]:
    """Every job `rounds` times, WORKERS at a time, each wave released together."""
    assert len(jobs) % WORKERS == 0, "whole waves only, or the barrier would wait forever"
    barrier = threading.Barrier(WORKERS)  # cyclic: one trip per wave

    def run(job: BackfillJob) -> JobOutcome:
        worker = new_worker(url)
        barrier.wait(timeout=DEADLINE_S)
        return worker.run(job)

    outcomes: list[JobOutcome] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in range(rounds):
            futures = [pool.submit(run, job) for job in jobs]
            outcomes.extend(f.result(timeout=DEADLINE_S) for f in futures)
    return outcomes


def reset(conn: Connection[Any]) -> None:
    conn.execute("TRUNCATE bars, series_stats, symbols, backfill_jobs, backfill_runs")


def wait_until_waiting_on_a_lock(conn: Connection[Any], pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.02)
    pytest.fail("writer B never waited for writer A")


FRESH_RUNS = 3  # the same jobs on an empty warehouse, each time in another interleaving


def test_workers_backfilling_overlapping_ranges_at_once_end_with_the_serial_table(
    pipeline_conn: Connection[Any], database_url: str
) -> None:
    """`database_url` is the session's test database (tests/conftest.py)."""
    jobs = plan_jobs(pipeline_conn)
    serial = [new_worker(database_url).run(job) for job in jobs]
    assert {o.outcome for o in serial} == {"succeeded"}
    expected = warehouse_state(pipeline_conn)
    month = (utc(2024, 3, 1), utc(2024, 3, 31))
    distinct_bars = sum(
        len({b.time for b in SyntheticProvider().fetch_bars(s, a, t, *month).bars})
        for s, a, t in SERIES
    )
    assert expected["bar count"] == (distinct_bars,)

    for _ in range(FRESH_RUNS):
        reset(pipeline_conn)
        jobs = plan_jobs(pipeline_conn)
        outcomes = run_concurrently(database_url, jobs, rounds=1)
        assert {o.outcome for o in outcomes} == {"succeeded"}, [o.error for o in outcomes]
        assert warehouse_state(pipeline_conn) == expected

    # The same ranges again as new jobs, then every job delivered twice more.
    run_id = uuid.uuid4()
    rerun = [job.model_copy(update={"job_id": uuid.uuid4(), "run_id": run_id}) for job in jobs]
    record_run(pipeline_conn, run_id, "admin", rerun)
    outcomes = run_concurrently(database_url, rerun, rounds=3)
    first, repeats = outcomes[: len(rerun)], outcomes[len(rerun) :]
    assert {o.outcome for o in first} == {"succeeded"}, [o.error for o in first]
    assert {o.outcome for o in repeats} == {"duplicate"}
    assert sum(o.counts.bars_upserted for o in first) == 0, "identical bars rewrite nothing"
    after = warehouse_state(pipeline_conn)
    del after["jobs"], expected["jobs"]
    assert after == expected


def test_two_writers_of_one_series_never_lose_each_others_bars_from_the_stats(
    pipeline_conn: Connection[Any], database_url: str
) -> None:
    """The interleaving that lost updates, forced: writer A has upserted (bars and
    stats) but not committed when writer B upserts other bars of the same series."""
    add_symbols(pipeline_conn, [("BTC-USD", AssetClass.CRYPTO)], [Timeframe.H1])
    first_half = (utc(2024, 3, 1), utc(2024, 3, 8))
    second_half = (utc(2024, 3, 8), utc(2024, 3, 15))
    series = ("BTC-USD", AssetClass.CRYPTO, Timeframe.H1)
    with (
        psycopg.connect(database_url, autocommit=True) as writer_a,
        psycopg.connect(database_url, autocommit=True) as writer_b,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        with writer_a.transaction():
            load_series(writer_a, *series, *first_half)
            b_done = pool.submit(load_series, writer_b, *series, *second_half)
            wait_until_waiting_on_a_lock(pipeline_conn, writer_b.info.backend_pid)
        # writer A has committed; writer B goes on
        assert b_done.result(timeout=DEADLINE_S) == 7 * 24
    stats = pipeline_conn.execute(
        "SELECT records FROM series_stats WHERE symbol = 'BTC-USD'"
    ).fetchone()
    bars = pipeline_conn.execute("SELECT count(*) FROM bars WHERE symbol = 'BTC-USD'").fetchone()
    assert bars == (2 * 7 * 24,)
    assert stats == bars, "series_stats lost the bars of the writer that committed first"


def test_two_migrate_lambdas_started_at_once_apply_each_migration_once(
    settings: Settings,
) -> None:
    """The deploy trigger may fire twice (a retried CloudFormation event): the Lambda
    handlers, not just the runner, must agree (tests/integration/test_migrations.py
    covers the runner with four threads)."""
    from migrate import handler

    url = str(settings.database_url)
    name = f"mdw_migrate_twice_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    fresh = make_conninfo(url, dbname=name)
    handler.settings.use(settings.model_copy(update={"database_url": fresh}))
    try:
        barrier = threading.Barrier(2)

        def invoke() -> dict[str, Any]:
            barrier.wait(timeout=30)
            result: dict[str, Any] = handler.lambda_handler(
                load_event("migrate"), FakeLambdaContext()
            )
            return result

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = [f.result(timeout=DEADLINE_S) for f in [pool.submit(invoke) for _ in "ab"]]
    finally:
        handler.settings.use(None)
    everything = [m.version for m in available_migrations()]
    assert sorted(results[0]["applied"] + results[1]["applied"]) == everything
    assert [] in (results[0]["applied"], results[1]["applied"])
    with psycopg.connect(fresh) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [r[0] for r in rows] == everything
        assert conn.execute("SELECT to_regclass('bars') IS NOT NULL").fetchone() == (True,)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
