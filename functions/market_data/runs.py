"""Launching a backfill run: plan the jobs, record the run, send the jobs to the queue.

No AWS, HTTP or database types here: the fan-out handler, the admin API and the
local tools call launch_run with their adapters (market_data.wiring builds
them), and tests with real ones or in-memory fakes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from market_data.errors import DomainError, TooManyJobsError, UnknownSymbolsError
from market_data.jobs import EnqueueReport
from market_data.models import SeriesStats, TrackedSymbol
from market_data.planning import BackfillJob, PlanningRules, RunPlan, Trigger, plan_run
from market_data.timeframes import Timeframe

logger = logging.getLogger(__name__)


class RunStore(Protocol):
    """What launching a run needs from the warehouse (PostgresRunStore, or a fake)."""

    def tracked(self, *, active_only: bool) -> list[TrackedSymbol]: ...

    def series_stats(self) -> list[SeriesStats]: ...

    def record_run(
        self,
        run_id: uuid.UUID,
        trigger: Trigger,
        jobs: Sequence[BackfillJob],
        *,
        pending: bool = False,
    ) -> None:
        """The run and its jobs; `pending`: the run is recorded and waits for its jobs."""
        ...

    def record_pending_run(self, run_id: uuid.UUID, trigger: Trigger) -> None: ...

    def fail_planning(self, run_id: uuid.UUID, error: str) -> None: ...

    def mark_enqueued(self, run_id: uuid.UUID, unsent: Sequence[uuid.UUID]) -> None:
        """Stamp the run's jobs the queue took (all but `unsent`)."""
        ...

    def fail_jobs(self, failures: Sequence[tuple[uuid.UUID, str]]) -> None: ...

    def complete_run(self, run_id: uuid.UUID) -> bool: ...


class JobQueue(Protocol):
    """Where jobs go to be worked on (SqsJobQueue, or a fake)."""

    def send(self, jobs: Sequence[BackfillJob]) -> EnqueueReport: ...


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
    rules: PlanningRules,
    store: RunStore,
    queue: JobQueue,
    *,
    trigger: Trigger,
    symbols: Sequence[str] | None = None,
    timeframes: Sequence[Timeframe] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    max_jobs: int | None = None,
    pending_run: uuid.UUID | None = None,
) -> LaunchedRun:
    """Plan jobs, record the run and its jobs, send them; jobs the queue would not take fail.

    Without `symbols`, every active symbol; with them, exactly those (inactive
    ones included: asking by name is deliberate). Unknown symbols raise
    UnknownSymbolsError, a plan over `max_jobs` TooManyJobsError, both before
    anything is recorded. `pending_run`: plan the jobs of that run, recorded
    already by start_pending_run.
    """
    now = now or datetime.now(UTC)
    tracked = store.tracked(active_only=symbols is None)
    if symbols is not None:
        wanted = set(symbols)
        missing = sorted(wanted - {t.symbol for t in tracked})
        if missing:
            raise UnknownSymbolsError(missing)
        tracked = [t for t in tracked if t.symbol in wanted]
    stats = store.series_stats()
    # A series of another provider's bars starts over: this provider's whole history
    # replaces them (the write path removes the others' bars with the first job).
    last_times = {
        (s.symbol, s.timeframe): s.last_time
        for s in stats
        if s.last_time is not None and s.source in (None, rules.source)
    }
    vendor_adjusted = {
        (s.symbol, s.timeframe): s.vendor_adjusted for s in stats if s.vendor_adjusted is not None
    }
    plan = plan_run(
        tracked,
        last_times,
        now,
        rules,
        trigger=trigger,
        timeframes=timeframes,
        start=start,
        end=end,
        vendor_adjusted=vendor_adjusted,
        run_id=pending_run,
    )
    if max_jobs is not None and len(plan.jobs) > max_jobs:
        raise TooManyJobsError(len(plan.jobs), max_jobs)
    store.record_run(plan.run_id, trigger, plan.jobs, pending=pending_run is not None)
    # Should this process die here, the jobs stay recorded and unsent: the stuck-job
    # check (market_data.recovery) finds them by their missing `enqueued_at`.
    report = queue.send(plan.jobs)
    store.mark_enqueued(plan.run_id, [uuid.UUID(u.job_id) for u in report.unsent])
    if report.unsent:
        logger.error(
            "jobs could not be enqueued",
            extra={"run_id": str(plan.run_id), "unsent": len(report.unsent)},
        )
        store.fail_jobs(
            [(uuid.UUID(u.job_id), f"not enqueued: {u.code}: {u.message}") for u in report.unsent]
        )
        store.complete_run(plan.run_id)
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


# --- runs planned after the answer ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """A recorded run whose jobs the fan-out plans (the whole universe, from the admin API).

    Its event form is the fan-out's asynchronous invocation payload.
    """

    run_id: uuid.UUID
    trigger: Trigger
    timeframes: tuple[Timeframe, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def to_event(self) -> dict[str, object]:
        return {
            "plan_run": {
                "run_id": str(self.run_id),
                "trigger": self.trigger,
                "timeframes": [t.value for t in self.timeframes] if self.timeframes else None,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
            }
        }

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> PlanRequest:
        body = event["plan_run"]
        timeframes = body.get("timeframes")
        return cls(
            run_id=uuid.UUID(body["run_id"]),
            trigger=body["trigger"],
            timeframes=tuple(Timeframe(t) for t in timeframes) if timeframes else None,
            start=datetime.fromisoformat(body["start"]) if body.get("start") else None,
            end=datetime.fromisoformat(body["end"]) if body.get("end") else None,
        )


class PlanningHandoff(Protocol):
    """Who plans a recorded run (the fan-out Lambda invoked asynchronously, or a thread)."""

    def hand_off(self, request: PlanRequest) -> None: ...


def start_pending_run(
    store: RunStore,
    handoff: PlanningHandoff,
    *,
    trigger: Trigger,
    timeframes: Sequence[Timeframe] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PlanRequest:
    """Record a run without jobs and hand its planning over: one insert and one call,
    whatever the universe's size. A hand-off that fails ends the run with the reason."""
    request = PlanRequest(
        uuid.uuid4(), trigger, tuple(timeframes) if timeframes else None, start, end
    )
    store.record_pending_run(request.run_id, trigger)
    try:
        handoff.hand_off(request)
    except Exception as error:
        store.fail_planning(request.run_id, f"planning not handed over: {error}")
        raise
    return request


def plan_pending_run(
    rules: PlanningRules,
    store: RunStore,
    queue: JobQueue,
    request: PlanRequest,
    *,
    now: datetime | None = None,
) -> LaunchedRun | None:
    """Plan, record and send a pending run's jobs (every active symbol); a plan that
    cannot be made ends the run with the reason (None)."""
    try:
        return launch_run(
            rules, store, queue, trigger=request.trigger, timeframes=request.timeframes,
            start=request.start, end=request.end, now=now, pending_run=request.run_id,
        )  # fmt: skip
    except DomainError as error:
        logger.error("run not planned", extra={"run_id": str(request.run_id), "error": str(error)})
        store.fail_planning(request.run_id, str(error))
        return None
