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
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

import boto3
import psycopg
import uvicorn
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in requirements-dev

from devtools.admin_key import bootstrap_local_keys
from devtools.lake_local import prepare_lake, request_lake_write, serve_exports, write_lake
from devtools.local_aws import start_aws
from devtools.local_pg import start_postgres
from devtools.local_settings import local_settings
from devtools.run_backfill import (
    DLQ_NAME,
    FINAL,
    create_backfill_queue,
    drain_in_processes,
    drain_queue,
)
from market_data.health import next_nightly_run
from market_data.migrations import apply_migrations
from market_data.planning import rules_from_settings
from market_data.recovery import RecoveryBounds, recover_stuck_jobs
from market_data.repositories.jobs import forget_messages
from market_data.repositories.symbols import add_symbols
from market_data.runs import launch_run
from market_data.settings import Settings
from market_data.symbols import DEFAULT_UNIVERSE
from market_data.wiring import build_worker, job_queue, run_store
from market_data.worker import JobOutcome

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".local"
DAILY_HISTORY_FROM = date(2020, 1, 1)
INTRADAY_HISTORY_DAYS = 90
# Jobs worked on at once: PostgreSQL does the upserts in its own processes, so a
# second thread overlaps them with generating and validating the next series.
DRAIN_THREADS = 2
# The start-up load's generating and validating is Python work: one child
# interpreter per core does it in parallel (see drain_in_processes).
DRAIN_PROCESSES = max(2, os.cpu_count() or 1)
# make dev's stand-in for the deployed stuck-job schedule (every 15 minutes there).
STUCK_CHECK_INTERVAL_S = 300.0
STOP_WORKER = threading.Event()  # set on shutdown: the local queue consumer and timer return


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def load_history(settings: Settings, *, background: bool | None = None) -> Settings:
    """The start-up run, the nightly path for real: fan-out -> SQS (moto) -> the worker.

    Dev history: daily bars from DAILY_HISTORY_FROM, intraday for the last
    INTRADAY_HISTORY_DAYS. On a later start only what is missing is fetched
    (the plan is incremental). It is recorded as a command-line run (trigger
    "cli"), not as the schedule's: the dashboard and the status say so. After it,
    a local timer plays EventBridge Scheduler and launches the nightly run at
    02:00 UTC while make dev is up. With Polygon (POLYGON_API_KEY set) the queue
    is drained in the background while the API serves: the free plan allows 5
    requests a minute. Returns the settings with the local queue, for the API.
    """
    today = datetime.now(UTC).date()
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    settings = settings.model_copy(
        update={
            "initial_history_days_daily": (today - DAILY_HISTORY_FROM).days + 1,
            "initial_history_days_intraday": INTRADAY_HISTORY_DAYS,
            # One job per intraday series for the 90 days (fewer, larger messages locally).
            "backfill_max_job_days_intraday": INTRADAY_HISTORY_DAYS + 1,
            "backfill_queue_url": create_backfill_queue(sqs),
            "backfill_dlq_url": sqs.get_queue_url(QueueName=DLQ_NAME)["QueueUrl"],
        }
    )
    settings = prepare_lake(settings)
    threading.Thread(
        target=serve_exports, args=(settings, STOP_WORKER), name="export-worker", daemon=True
    ).start()
    provider = settings.market_data_provider
    queue_url = str(settings.backfill_queue_url)
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        add_symbols(conn, [(s, a) for a, symbols in DEFAULT_UNIVERSE.items() for s in symbols])
        # The emulated queue starts empty: jobs an earlier make dev left unfinished
        # (stopped mid-drain) have no message any more, so they are sent again.
        forgotten = forget_messages(conn)
    if forgotten:
        recovered = recover_stuck_jobs(
            run_store(settings), job_queue(settings, sqs), RecoveryBounds.from_settings(settings),
            now=datetime.now(UTC) + timedelta(seconds=settings.backfill_unsent_after_s),
        )  # fmt: skip
        print(f"  {len(recovered.resent)} unfinished jobs of an earlier start sent again")
    switched = Counter(
        s.source for s in run_store(settings).series_stats() if s.source not in (None, provider)
    )
    for other, count in sorted(switched.items()):
        print(
            f"  {count} series hold {other} bars: the {provider} provider replaces them with"
            " its full history (one provider per series)"
        )
    started = time.monotonic()
    launched = launch_run(
        rules_from_settings(settings), run_store(settings), job_queue(settings, sqs),
        trigger="cli",
    )  # fmt: skip
    print(f"  run {launched.run_id}: {len(launched.jobs)} jobs queued ({provider} provider)")
    process_message = build_worker(settings, sqs).process_message

    def drain() -> None:
        with tqdm(total=len(launched.jobs), unit="job", leave=True) as bar:
            progress = lambda o: bar.update(1) if o and o.outcome in FINAL else None  # noqa: E731
            if provider == "synthetic":
                report = drain_in_processes(
                    settings, queue_url, processes=DRAIN_PROCESSES, threads=DRAIN_THREADS,
                    on_message=progress,
                )  # fmt: skip
            else:  # one process: the vendor's request pacer is per process
                report = drain_queue(
                    sqs, queue_url, process_message, threads=DRAIN_THREADS, on_message=progress
                )
        print(
            f"  {report.succeeded} jobs succeeded, {report.failed} failed, "
            f"{report.bars_upserted:,} bars written in {time.monotonic() - started:.1f}s"
        )
        for error in report.errors[:10]:
            print(f"    {error}")
        # The run is complete: its bars go to the lake (moto's S3 and .local/lake).
        write_lake(settings, launched.run_id)

    def serve_queue() -> None:
        """Afterwards, keep consuming like the Lambda event source: on-demand runs
        (POST /api/v1/admin/backfill) go through the same queue."""

        def reported(outcome: JobOutcome | None) -> None:
            _report_job(outcome)
            request_lake_write(settings, outcome)

        drain_queue(
            sqs, queue_url, process_message, threads=DRAIN_THREADS, on_message=reported,
            until=STOP_WORKER,
        )  # fmt: skip

    threading.Thread(
        target=check_stuck_jobs, args=(settings, sqs), name="stuck-job-timer", daemon=True
    ).start()
    if settings.nightly_schedule_enabled:
        threading.Thread(
            target=run_nightly, args=(settings, sqs), name="nightly-timer", daemon=True
        ).start()
    if background if background is not None else provider == "polygon":
        print("  backfilling in the background; the API serves meanwhile")

        def drain_then_serve() -> None:
            drain()
            serve_queue()

        threading.Thread(target=drain_then_serve, name="backfill-worker", daemon=True).start()
    else:
        drain()
        threading.Thread(target=serve_queue, name="backfill-worker", daemon=True).start()
    return settings


def run_nightly(settings: Settings, sqs: object, *, until: threading.Event = STOP_WORKER) -> None:
    """Launch the nightly run at 02:00 UTC, as the deployed schedule does, until stopped.

    The jobs go to the local queue, which the worker thread keeps consuming.
    """
    while not until.wait(_seconds_until_next_run()):
        try:
            launched = launch_run(
                rules_from_settings(settings), run_store(settings), job_queue(settings, sqs),
                trigger="schedule",
            )  # fmt: skip
        except Exception as exc:  # keep the timer alive for the next night
            print(f"nightly run not launched: {type(exc).__name__}: {exc}")
            continue
        print(f"nightly run {launched.run_id}: {len(launched.jobs)} jobs queued")


def check_stuck_jobs(
    settings: Settings, sqs: object, *, until: threading.Event = STOP_WORKER,
    every_s: float = STUCK_CHECK_INTERVAL_S,
) -> None:  # fmt: skip
    """What the deployed stuck-job schedule does, every `every_s` seconds until stopped."""
    while not until.wait(every_s):
        try:
            queue = job_queue(settings, sqs)
            report = recover_stuck_jobs(
                run_store(settings), queue, RecoveryBounds.from_settings(settings),
                queue_state=queue,
            )  # fmt: skip
        except Exception as exc:  # keep the timer alive for the next check
            print(f"stuck-job check failed: {type(exc).__name__}: {exc}")
            continue
        if report.stuck:
            print(
                f"stuck-job check: {len(report.resent)} jobs re-sent, "
                f"{len(report.failed)} failed, {len(report.runs_completed)} runs completed"
            )


def _seconds_until_next_run() -> float:
    now = datetime.now(UTC)
    return max((next_nightly_run(now) - now).total_seconds(), 1.0)


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
    stops: list[Callable[[], object]] = []  # what to stop on the way out, newest first
    try:
        print("Starting embedded PostgreSQL ...")
        database_url, pg = start_postgres(STATE_DIR / "pgdata")
        if pg is not None:
            stops.insert(0, pg.cleanup)
        endpoint, aws = start_aws(own_process=True)
        stops.insert(0, aws.stop)
        print(f"Emulated AWS (DynamoDB, SQS, S3) at {endpoint}")
        settings = local_settings(database_url, endpoint)
        admin_key = bootstrap_local_keys(settings)  # key tables in moto + an admin key
        with psycopg.connect(database_url, autocommit=True) as conn:
            applied = apply_migrations(conn)
        print(f"Migrations applied: {applied or 'none pending'}")
        print("Start-up backfill of the default universe (fan-out -> SQS -> worker) ...")
        settings = load_history(settings)

        from api.app import create_app

        print(f"\nAPI:       http://127.0.0.1:{port}/")
        print(f"Docs:      http://127.0.0.1:{port}/docs")
        print(f"Dashboard: http://127.0.0.1:{port}/dashboard/")
        print(f"Admin key: {admin_key}  (X-API-Key header; lives as long as this run)")
        print("Ctrl-C stops everything.\n")
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        shut_down(stops)


def shut_down(stops: list[Callable[[], object]]) -> None:
    """Stop the worker threads' intake, the emulated AWS and PostgreSQL, and exit now.

    Not sys.exit: the interpreter would wait for the worker's threads, and a job
    in flight (a Polygon request, a rate-limit wait) held Ctrl-C for minutes. Such
    a job writes its bars and its status in one transaction, which dies with the
    database connection (nothing half-written); its message dies with the
    emulated queue, and the next start sends the job again (load_history).
    """
    print("Stopping ...", flush=True)
    STOP_WORKER.set()
    for stop in stops:
        try:
            stop()
        except Exception as exc:  # stop the rest whatever one of them does
            print(f"  while stopping: {type(exc).__name__}: {exc}")
    print("Stopped.", flush=True)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
