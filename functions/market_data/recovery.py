"""The stuck-job check: jobs past their bound are re-sent or failed with a reason, so a
run always completes.

A job can be left behind three ways, each with its own bound (settings):
- recorded but never sent: the fan-out died between recording its jobs and
  sending them (`enqueued_at` is empty) - re-sent after BACKFILL_UNSENT_AFTER_S;
- `running` or `retrying` and untouched for longer than every delivery the
  queue allows could take (BACKFILL_STUCK_AFTER_S): the worker was killed or
  timed out on the last delivery, or the message was lost - re-sent once, and
  failed with the reason if it is stuck again after that;
- `queued`, sent longer ago than the queue keeps a message
  (BACKFILL_MESSAGE_RETENTION_S) - failed: its message expired;
- and whenever the queue is empty (nothing visible, in flight or delayed), no
  unfinished job has a message: every one untouched for BACKFILL_UNSENT_AFTER_S
  is re-sent (once; stuck again after that, it is failed). This is what finds
  the jobs of a batch whose worker died before reaching them on every delivery:
  they are still `queued` and their messages are in the DLQ.
A run recorded for the fan-out to plan (a whole-universe admin backfill) and not
planned within BACKFILL_UNSENT_AFTER_S is ended with the reason.

The fan-out runs the check before each run and on its own schedule (every 15
minutes as deployed; make dev has its own timer). Two checks at once may send a
job twice: a duplicate message, which the worker's claim makes harmless.

No AWS, HTTP or database types here, as in market_data.runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from market_data.jobs import StuckJob
from market_data.runs import JobQueue
from market_data.settings import Settings

logger = logging.getLogger(__name__)

# Jobs handled per check: a run's worth; a bigger backlog is the next check's.
MAX_PER_CHECK = 20_000


class QueueState(Protocol):
    def is_empty(self) -> bool:
        """Nothing visible, in flight or delayed (approximate, as SQS counts)."""
        ...


class RecoveryStore(Protocol):
    """What the check needs from the warehouse (PostgresRunStore, or a fake)."""

    def stuck_jobs(
        self, *, unsent_before: datetime, stuck_before: datetime, expired_before: datetime,
        orphaned_before: datetime | None, limit: int,
    ) -> list[StuckJob]: ...  # fmt: skip

    def mark_resent(self, job_ids: Sequence[uuid.UUID]) -> None: ...

    def fail_unplanned_runs(self, before: datetime) -> list[uuid.UUID]:
        """End runs recorded for the fan-out to plan that it never planned."""
        ...

    def fail_jobs(self, failures: Sequence[tuple[uuid.UUID, str]]) -> None: ...

    def complete_run(self, run_id: uuid.UUID) -> bool: ...


@dataclass(frozen=True, slots=True)
class RecoveryBounds:
    unsent_after: timedelta
    stuck_after: timedelta
    message_retention: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> RecoveryBounds:
        return cls(
            unsent_after=timedelta(seconds=settings.backfill_unsent_after_s),
            stuck_after=timedelta(seconds=settings.backfill_stuck_after_s),
            message_retention=timedelta(seconds=settings.backfill_message_retention_s),
        )


@dataclass(slots=True)
class RecoveryReport:
    resent: list[uuid.UUID] = field(default_factory=list)
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    runs_completed: list[uuid.UUID] = field(default_factory=list)

    @property
    def stuck(self) -> int:
        return len(self.resent) + len(self.failed)


def _verdict(stuck: StuckJob, bounds: RecoveryBounds, now: datetime) -> str | None:
    """None: send it again; otherwise why it is failed."""
    if stuck.enqueued_at is None:
        return None  # it never had a message: sending it is all it needs
    if stuck.status == "queued" and stuck.enqueued_at < now - bounds.message_retention:
        return (
            f"stuck: queued since {stuck.enqueued_at:%Y-%m-%d %H:%M}Z, longer than the queue "
            f"keeps a message ({bounds.message_retention}); its message expired"
        )
    if stuck.resent_before:
        return (
            f"stuck: {stuck.status} since {stuck.updated_at:%Y-%m-%d %H:%M}Z after being "
            f"re-sent once ({stuck.attempts} attempts; the worker was killed or timed out "
            "each time, or its message is in the DLQ)"
        )
    return None


def recover_stuck_jobs(
    store: RecoveryStore,
    queue: JobQueue,
    bounds: RecoveryBounds,
    *,
    queue_state: QueueState | None = None,
    now: datetime | None = None,
) -> RecoveryReport:
    """Re-send or fail every job past its bound, then complete the runs that finishes."""
    now = now or datetime.now(UTC)
    empty = queue_state is not None and queue_state.is_empty()
    found = store.stuck_jobs(
        unsent_before=now - bounds.unsent_after,
        stuck_before=now - bounds.stuck_after,
        expired_before=now - bounds.message_retention,
        orphaned_before=now - bounds.unsent_after if empty else None,
        limit=MAX_PER_CHECK,
    )
    report = RecoveryReport()
    # A whole-universe run the fan-out never took over (its invocation was lost).
    report.runs_completed.extend(store.fail_unplanned_runs(now - bounds.unsent_after))
    if not found:
        return report
    resend = []
    for stuck in found:
        reason = _verdict(stuck, bounds, now)
        if reason is None:
            resend.append(stuck.job)
        else:
            report.failed.append((stuck.job.job_id, reason))
    if resend:
        sent = queue.send(resend)
        unsent = {u.job_id: f"not re-sent: {u.code}: {u.message}" for u in sent.unsent}
        report.resent = [j.job_id for j in resend if str(j.job_id) not in unsent]
        report.failed.extend((uuid.UUID(job_id), reason) for job_id, reason in unsent.items())
        store.mark_resent(report.resent)
    if report.failed:
        store.fail_jobs(report.failed)
    for run_id in dict.fromkeys(s.job.run_id for s in found):
        if store.complete_run(run_id):
            report.runs_completed.append(run_id)
    logger.warning(
        "stuck jobs recovered",
        extra={
            "resent": len(report.resent),
            "failed": len(report.failed),
            "runs_completed": len(report.runs_completed),
        },
    )
    return report
