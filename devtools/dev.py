"""`make dev`: the whole product on one machine, no cloud account and no Docker.

Starts an embedded PostgreSQL and emulated AWS services, migrates, tracks the
default universe, loads history, then serves the API (and dashboard) until
Ctrl-C. Everything it started stops with it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import psycopg
import uvicorn
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in requirements-dev

from devtools.admin_key import bootstrap_local_keys
from devtools.backfill import create_backfill_queue, drain_queue, use_polygon_if_keyed
from devtools.local_aws import start_aws
from devtools.local_pg import start_postgres
from market_data.backfill import JobOutcome, launch_run
from market_data.migrations import apply_migrations
from market_data.repositories.symbols import add_symbols
from market_data.settings import get_settings
from market_data.symbols import DEFAULT_UNIVERSE

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".local"
DAILY_HISTORY_FROM = date(2020, 1, 1)
INTRADAY_HISTORY_DAYS = 90
# Jobs worked on at once: PostgreSQL does the upserts in its own processes, so a
# second thread overlaps them with generating and validating the next series.
DRAIN_THREADS = 2
STOP_WORKER = threading.Event()  # set on shutdown: the local queue consumer returns


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def load_history(database_url: str, *, background: bool | None = None) -> None:
    """The nightly run, locally and for real: fan-out -> SQS (moto) -> the worker, in-process.

    Dev history: daily bars from DAILY_HISTORY_FROM, intraday for the last
    INTRADAY_HISTORY_DAYS. On a later start only what is missing is fetched
    (the plan is incremental). With Polygon (POLYGON_API_KEY set) the queue is
    drained in the background while the API serves: the free plan allows 5
    requests a minute.
    """
    provider = use_polygon_if_keyed()
    today = datetime.now(UTC).date()
    os.environ.setdefault("INITIAL_HISTORY_DAYS_DAILY", str((today - DAILY_HISTORY_FROM).days + 1))
    os.environ.setdefault("INITIAL_HISTORY_DAYS_INTRADAY", str(INTRADAY_HISTORY_DAYS))
    # One job per intraday series for the 90 days (fewer, larger messages locally).
    os.environ.setdefault("BACKFILL_MAX_JOB_DAYS_INTRADAY", str(INTRADAY_HISTORY_DAYS + 1))
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the progress bar tells the story
    sqs = boto3.client("sqs")
    queue_url = create_backfill_queue(sqs)
    os.environ["BACKFILL_QUEUE_URL"] = queue_url
    get_settings.cache_clear()

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(database_url, autocommit=True)

    with connect() as conn:
        add_symbols(conn, [(s, a) for a, symbols in DEFAULT_UNIVERSE.items() for s in symbols])
    started = time.monotonic()
    launched = launch_run(get_settings(), connect, sqs, queue_url, trigger="schedule")
    print(f"  run {launched.run_id}: {len(launched.jobs)} jobs queued ({provider} provider)")

    from backfill.handler import process_body

    def drain() -> None:
        with tqdm(total=len(launched.jobs), unit="job", leave=True) as bar:
            report = drain_queue(
                sqs,
                queue_url,
                process_body,
                threads=DRAIN_THREADS,
                on_message=lambda o: bar.update(1) if o and o.outcome != "retrying" else None,
            )
        print(
            f"  {report.succeeded} jobs succeeded, {report.failed} failed, "
            f"{report.bars_upserted:,} bars written in {time.monotonic() - started:.1f}s"
        )
        for error in report.errors[:10]:
            print(f"    {error}")

    def serve_queue() -> None:
        """Afterwards, keep consuming like the Lambda event source: on-demand runs
        (POST /api/v1/admin/backfill) go through the same queue."""
        drain_queue(
            sqs, queue_url, process_body, threads=DRAIN_THREADS, on_message=_report_job,
            until=STOP_WORKER,
        )  # fmt: skip

    if background if background is not None else provider == "polygon":
        print("  backfilling in the background; the API serves meanwhile")

        def drain_then_serve() -> None:
            drain()
            serve_queue()

        threading.Thread(target=drain_then_serve, name="backfill-worker", daemon=True).start()
    else:
        drain()
        threading.Thread(target=serve_queue, name="backfill-worker", daemon=True).start()


def _report_job(outcome: JobOutcome | None) -> None:
    if outcome is not None and outcome.outcome != "duplicate":
        job = outcome.job
        print(
            f"backfill job {job.job_id} {job.symbol} {job.timeframe}: {outcome.outcome}, "
            f"{outcome.counts.bars_upserted} bars written"
            + (f" ({outcome.error})" if outcome.error else "")
        )


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    port = int(os.environ.get("PORT", "8000"))
    print("Starting embedded PostgreSQL ...")
    database_url, _pg = start_postgres(STATE_DIR / "pgdata")
    os.environ["DATABASE_URL"] = database_url
    endpoint, aws = start_aws()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    print(f"Emulated AWS (DynamoDB, SQS) at {endpoint}")
    admin_key = bootstrap_local_keys()  # key tables in moto + an admin key
    with psycopg.connect(database_url, autocommit=True) as conn:
        applied = apply_migrations(conn)
    print(f"Migrations applied: {applied or 'none pending'}")
    print("Nightly backfill of the default universe (fan-out -> SQS -> worker) ...")
    load_history(database_url)

    from api.app import create_app

    print(f"\nAPI:       http://127.0.0.1:{port}/")
    print(f"Docs:      http://127.0.0.1:{port}/docs")
    print(f"Dashboard: http://127.0.0.1:{port}/dashboard/")
    print(f"Admin key: {admin_key}  (X-API-Key header; lives as long as this run)")
    print("Ctrl-C stops everything.\n")
    try:
        uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        STOP_WORKER.set()
        aws.stop()
        print("Stopped.")
    sys.exit(0)


if __name__ == "__main__":
    main()
