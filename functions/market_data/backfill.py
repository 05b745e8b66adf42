"""The backfill use-cases: launch a run (plan, record, enqueue) and run one job.

No AWS or HTTP types here: the Lambda handlers, the admin API and the local
tools call these with their adapters (a boto3 client, a PostgreSQL pool, a
provider), and tests call them with real ones or in-memory fakes.

A job's outcome follows from what went wrong:
- nothing: bars validated and upserted with the job's final status in one
  transaction -> succeeded;
- a permanent vendor error (bad ticker, NOT_AUTHORIZED): retrying cannot help ->
  failed, and the message is consumed;
- a transient one (5xx/429/timeouts after the client's own retries, or the
  shared circuit breaker is open): -> retrying, and the message goes back to
  the queue. On the last delivery the queue allows, the job is recorded as
  failed and the message still goes back, so it lands in the dead-letter queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from aws_lambda_powertools import Logger

from market_data.circuit import CircuitBreaker, ClosedCircuit, PostgresCircuitBreaker
from market_data.db import get_pool
from market_data.models import RawBar, StoredBar
from market_data.planning import BackfillJob, RunPlan, Trigger, plan_run, rules_from_settings
from market_data.providers import BarProvider
from market_data.providers.synthetic import SyntheticProvider
from market_data.providers.vendor import (
    CircuitOpenError,
    CountingBarProvider,
    FetchResult,
    PermanentVendorError,
    TransientVendorError,
)
from market_data.queue import BatchSender, EnqueueReport, send_jobs
from market_data.repositories.jobs import (
    ClaimState,
    ConnectionSource,
    JobCounts,
    JobStatus,
    PostgresBackfillStore,
    complete_run_if_done,
    fail_jobs,
    record_run,
)
from market_data.repositories.symbols import list_series_stats, list_symbols
from market_data.settings import Settings
from market_data.timeframes import Timeframe
from market_data.validation import VOLUME_WINDOW, assess, is_flagged, prepare

logger = Logger(child=True)


# --- launching a run -----------------------------------------------------------------


class UnknownSymbolsError(ValueError):
    def __init__(self, symbols: Sequence[str]) -> None:
        super().__init__("not tracked: " + ", ".join(symbols))
        self.symbols = list(symbols)


class TooManyJobsError(ValueError):
    def __init__(self, planned: int, limit: int) -> None:
        super().__init__(
            f"the request plans {planned:,} jobs, more than {limit:,}; "
            "narrow the symbols, timeframes or range"
        )
        self.planned, self.limit = planned, limit


@dataclass(frozen=True, slots=True)
class LaunchedRun:
    plan: RunPlan
    report: EnqueueReport

    @property
    def run_id(self) -> uuid.UUID:
        return self.plan.run_id

    @property
    def jobs(self) -> list[BackfillJob]:
        return self.plan.jobs


def launch_run(
    settings: Settings,
    connect: ConnectionSource,
    sender: BatchSender,
    queue_url: str,
    *,
    trigger: Trigger,
    symbols: Sequence[str] | None = None,
    timeframes: Sequence[Timeframe] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    max_jobs: int | None = None,
) -> LaunchedRun:
    """Plan jobs, record the run and its jobs, send them; jobs SQS would not take fail.

    Without `symbols`, every active symbol; with them, exactly those (inactive
    ones included: asking by name is deliberate). Unknown symbols raise
    UnknownSymbolsError, a plan over `max_jobs` TooManyJobsError, both before
    anything is recorded.
    """
    now = now or datetime.now(UTC)
    with connect() as conn:
        tracked = list_symbols(conn, active_only=symbols is None)
        if symbols is not None:
            wanted = set(symbols)
            missing = sorted(wanted - {t.symbol for t in tracked})
            if missing:
                raise UnknownSymbolsError(missing)
            tracked = [t for t in tracked if t.symbol in wanted]
        last_times = {
            (s.symbol, s.timeframe): s.last_time
            for s in list_series_stats(conn)
            if s.last_time is not None
        }
    plan = plan_run(
        tracked,
        last_times,
        now,
        rules_from_settings(settings),
        trigger=trigger,
        timeframes=timeframes,
        start=start,
        end=end,
    )
    if max_jobs is not None and len(plan.jobs) > max_jobs:
        raise TooManyJobsError(len(plan.jobs), max_jobs)
    with connect() as conn:
        record_run(conn, plan.run_id, trigger, plan.jobs)
    report = send_jobs(
        sender,
        queue_url,
        plan.jobs,
        threads=settings.fanout_send_threads,
        attempts=settings.fanout_send_attempts,
    )
    if report.unsent:
        logger.error(
            "jobs could not be enqueued",
            extra={"run_id": str(plan.run_id), "unsent": len(report.unsent)},
        )
        with connect() as conn:
            fail_jobs(
                conn,
                [
                    (uuid.UUID(u.job_id), f"not enqueued: {u.code}: {u.message}")
                    for u in report.unsent
                ],
            )
            complete_run_if_done(conn, plan.run_id)
    logger.info(
        "backfill run launched",
        extra={
            "run_id": str(plan.run_id),
            "trigger": trigger,
            "jobs": len(plan.jobs),
            "sent": report.sent,
            "send_calls": report.calls,
        },
    )
    return LaunchedRun(plan, report)


# --- running one job -----------------------------------------------------------------


class BackfillStore(Protocol):
    """What a worker needs from the warehouse (PostgresBackfillStore, or a fake)."""

    def claim(self, job_id: uuid.UUID) -> ClaimState: ...

    def context(
        self, symbol: str, timeframe: Timeframe, before: datetime, limit: int
    ) -> list[RawBar]: ...

    def series_turn(self, symbol: str, timeframe: Timeframe) -> AbstractContextManager[None]:
        """Exclusive use of one series, from reading its context to saving its bars."""
        ...

    def save(self, job: BackfillJob, bars: Sequence[StoredBar], counts: JobCounts) -> int: ...

    def finish(
        self, job_id: uuid.UUID, status: JobStatus, counts: JobCounts, error: str | None
    ) -> None: ...

    def complete_run(self, run_id: uuid.UUID) -> bool: ...


class UnknownJobError(LookupError):
    """The message names a job the warehouse has no record of (its run was deleted?)."""


Outcome = Literal["succeeded", "failed", "retrying", "duplicate"]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job: BackfillJob
    outcome: Outcome
    counts: JobCounts = field(default_factory=JobCounts)
    error: str | None = None
    # True when the message must go back to the queue (reported as a batch failure).
    requeue: bool = False
    run_completed: bool = False


@dataclass(frozen=True, slots=True)
class Worker:
    provider: BarProvider
    store: BackfillStore
    breaker: CircuitBreaker
    max_receive_count: int = 5

    def process_message(self, body: str, receive_count: int = 1) -> JobOutcome:
        """Parse an SQS body and run its job (a bad body raises pydantic's ValidationError)."""
        return self.run(BackfillJob.model_validate_json(body), receive_count)

    def run(self, job: BackfillJob, receive_count: int = 1) -> JobOutcome:
        state = self.store.claim(job.job_id)
        if state == "unknown":
            raise UnknownJobError(f"job {job.job_id} is not recorded")
        if state == "done":
            logger.info("duplicate delivery of a finished job", extra={"job_id": str(job.job_id)})
            return JobOutcome(job, "duplicate")
        try:
            self.breaker.check()
            fetched = self._fetch(job)
        except PermanentVendorError as error:
            counts = JobCounts(vendor_requests=error.vendor_requests)
            return self._end(job, "failed", counts, str(error), requeue=False)
        except TransientVendorError as error:
            if not isinstance(error, CircuitOpenError):
                self.breaker.record_failure(str(error))
            counts = JobCounts(vendor_requests=error.vendor_requests)
            return self._retry(job, receive_count, counts, str(error))
        except Exception as error:
            # Anything else (a bug, the database) is worth another delivery too.
            logger.exception("job failed unexpectedly", extra={"job_id": str(job.job_id)})
            return self._retry(job, receive_count, JobCounts(), _describe(error))
        self.breaker.record_success()
        return self._store(job, fetched, receive_count)

    def _fetch(self, job: BackfillJob) -> FetchResult:
        args = (job.symbol, job.asset_class, job.timeframe, job.start, job.end)
        if isinstance(self.provider, CountingBarProvider):
            return self.provider.fetch_counted(*args)
        return FetchResult(self.provider.fetch_bars(*args))

    def _store(self, job: BackfillJob, fetched: FetchResult, receive_count: int) -> JobOutcome:
        prepared = prepare(fetched.bars)
        if prepared.duplicates or prepared.out_of_order:
            logger.info(
                "vendor bars re-ordered",
                extra={
                    "job_id": str(job.job_id),
                    "duplicates": prepared.duplicates,
                    "out_of_order": prepared.out_of_order,
                },
            )
        counts = JobCounts(
            bars_fetched=len(fetched.bars),
            bars_rejected=fetched.rejected,
            vendor_requests=fetched.vendor_requests,
        )
        try:
            # The series is this worker's from reading the bars before the range
            # (the verdicts' context) until its own are saved.
            with self.store.series_turn(job.symbol, job.timeframe):
                stored = self._assess(job, prepared.bars)
                counts = replace(
                    counts, bars_flagged=sum(1 for s in stored if is_flagged(s.assessment))
                )
                written = self.store.save(job, stored, counts)
        except Exception as error:
            logger.exception("storing bars failed", extra={"job_id": str(job.job_id)})
            return self._retry(job, receive_count, counts, _describe(error))
        counts = JobCounts(
            counts.bars_fetched,
            written,
            counts.bars_flagged,
            counts.bars_rejected,
            counts.vendor_requests,
        )
        return JobOutcome(
            job, "succeeded", counts, run_completed=self.store.complete_run(job.run_id)
        )

    def _assess(self, job: BackfillJob, bars: Sequence[RawBar]) -> list[StoredBar]:
        if not bars:
            return []
        context = self.store.context(job.symbol, job.timeframe, bars[0].time, VOLUME_WINDOW)
        verdicts = assess(bars, job.asset_class, job.timeframe, context=context)
        fetched_at = datetime.now(UTC)
        return [StoredBar(v.bar, self.provider.source, v.assessment, fetched_at) for v in verdicts]

    def _retry(
        self, job: BackfillJob, receive_count: int, counts: JobCounts, error: str
    ) -> JobOutcome:
        if receive_count >= self.max_receive_count:
            final = f"{error} (gave up after {receive_count} deliveries; message to the DLQ)"
            return self._end(job, "failed", counts, final, requeue=True)
        logger.warning(
            "job will be retried",
            extra={"job_id": str(job.job_id), "attempt": receive_count, "error": error},
        )
        return self._end(job, "retrying", counts, error, requeue=True)

    def _end(
        self, job: BackfillJob, outcome: Literal["failed", "retrying"], counts: JobCounts,
        error: str, *, requeue: bool,
    ) -> JobOutcome:  # fmt: skip
        self.store.finish(job.job_id, outcome, counts, error)
        completed = outcome == "failed" and self.store.complete_run(job.run_id)
        if outcome == "failed":
            logger.error("job failed", extra={"job_id": str(job.job_id), "error": error})
        return JobOutcome(job, outcome, counts, error, requeue=requeue, run_completed=completed)


def _describe(error: Exception) -> str:
    """An unexpected error as the job records it (and the admin API shows it): the
    class and the first line only - database errors put the SQL on later lines."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def build_worker(settings: Settings) -> Worker:
    """The worker MARKET_DATA_PROVIDER asks for, on the process-wide pool."""
    connect = get_pool(settings).connection
    store = PostgresBackfillStore(connect)
    if settings.market_data_provider == "polygon":
        from market_data.providers.polygon import SOURCE, PolygonClient

        return Worker(
            PolygonClient.from_settings(settings),
            store,
            PostgresCircuitBreaker(
                connect,
                SOURCE,
                threshold=settings.vendor_circuit_failure_threshold,
                open_seconds=settings.vendor_circuit_open_s,
            ),
            settings.backfill_max_receive_count,
        )
    return Worker(SyntheticProvider(), store, ClosedCircuit(), settings.backfill_max_receive_count)
