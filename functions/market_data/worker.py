"""Running one backfill job: fetch, validate, store, and decide what its message does next.

No AWS, HTTP or database types here: the worker Lambda (and make dev's local
drain) build a Worker with their adapters in market_data.wiring; tests build
it with real ones or in-memory fakes.

A job's outcome follows from what went wrong:
- nothing: bars validated and upserted with the job's final status in one
  transaction -> succeeded;
- a permanent vendor error (bad ticker, NOT_AUTHORIZED): retrying cannot help ->
  failed, and the message is consumed;
- a transient one (5xx/429/timeouts after the client's own retries): ->
  retrying, and the message goes back to the queue. On the last delivery the
  queue allows, the job is recorded as failed and the message still goes back,
  so it lands in the dead-letter queue (a message that was re-sent goes there
  directly: its own receive count cannot reach the redrive limit);
- the vendor is down (the shared circuit is open, or it had opened and this
  job's probe failed): -> retrying, and the message is re-sent delayed until the
  circuit may close (at most 15 minutes, SQS's limit), carrying the deliveries
  spent so far. Waiting costs no delivery, so a day-long outage ends with the
  jobs done rather than in the dead-letter queue.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal, Protocol

from market_data.circuit import CircuitBreaker
from market_data.corporate_actions import CorporateActions, Split
from market_data.errors import (
    CircuitOpenError,
    PermanentVendorError,
    TransientVendorError,
    UnknownJobError,
)
from market_data.jobs import ClaimState, JobCounts, JobState
from market_data.models import RawBar, StoredBar
from market_data.planning import BackfillJob
from market_data.providers import ActionsResult, BarProvider, FetchResult
from market_data.timeframes import Timeframe
from market_data.validation import VOLUME_WINDOW, assess, is_flagged, prepare

logger = logging.getLogger(__name__)


class BackfillStore(Protocol):
    """What a worker needs from the warehouse (PostgresBackfillStore, or a fake)."""

    def claim(self, job_id: uuid.UUID) -> ClaimState: ...

    def context(
        self, symbol: str, timeframe: Timeframe, before: datetime, limit: int
    ) -> list[RawBar]: ...

    def following(
        self, symbol: str, timeframe: Timeframe, after: datetime, limit: int, source: str
    ) -> list[tuple[RawBar, datetime]]:
        """Stored bars of `source` after a time whose verdicts may depend on what precedes
        them (up to the `limit`-th valid one), oldest first, with their fetch times."""
        ...

    def series_turn(self, symbol: str, timeframe: Timeframe) -> AbstractContextManager[None]:
        """Exclusive use of one series, from reading its context to saving its bars."""
        ...

    def save(self, job: BackfillJob, bars: Sequence[StoredBar], counts: JobCounts) -> int: ...

    def save_actions(self, symbol: str, actions: CorporateActions, source: str) -> int:
        """Replace the symbol's stored actions with the vendor's list; rows changed."""
        ...

    def splits(self, symbol: str) -> tuple[Split, ...]: ...

    def finish(
        self, job_id: uuid.UUID, status: JobState, counts: JobCounts, error: str | None
    ) -> None: ...

    def complete_run(self, run_id: uuid.UUID) -> bool: ...


class JobMailbox(Protocol):
    """The messages a worker sends itself (SqsJobMailbox, or a fake)."""

    def defer(self, job: BackfillJob, delay_s: int) -> None:
        """Send the job again, to be delivered in `delay_s` seconds."""
        ...

    def dead_letter(self, job: BackfillJob, reason: str) -> bool:
        """Put the job in the dead-letter queue with its reason; False if there is none."""
        ...


Outcome = Literal["succeeded", "failed", "retrying", "deferred", "duplicate"]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job: BackfillJob
    outcome: Outcome
    counts: JobCounts = field(default_factory=JobCounts)
    error: str | None = None
    # True when the message must go back to the queue (reported as a batch failure).
    requeue: bool = False
    run_completed: bool = False
    delay_s: int = 0  # a deferred job: when its re-sent message is delivered


@dataclass(frozen=True, slots=True)
class Worker:
    provider: BarProvider
    store: BackfillStore
    breaker: CircuitBreaker
    max_receive_count: int = 5
    # Without a mailbox (a worker that cannot send), a job waiting for the vendor
    # goes back to the queue and spends a delivery, as any transient failure.
    mailbox: JobMailbox | None = None
    # How long a failed probe waits: the circuit has just reopened for this long.
    probe_wait_s: float = 300.0
    max_delay_s: int = 900

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
        probing = False
        try:
            probing = bool(self.breaker.check())
            fetched = self._fetch(job)
            actions = self._fetch_actions(job)
        except PermanentVendorError as error:
            counts = JobCounts(vendor_requests=error.vendor_requests)
            return self._end(job, "failed", counts, str(error), requeue=False)
        except CircuitOpenError as error:
            return self._wait(job, receive_count, JobCounts(), str(error), error.retry_after_s)
        except TransientVendorError as error:
            self.breaker.record_failure(str(error))
            counts = JobCounts(vendor_requests=error.vendor_requests)
            if probing and job.deliveries + receive_count < self.max_receive_count:
                # The vendor was already known to be down and still is: that is the
                # outage's doing, not this job's, so it waits like the others. The
                # first failures, before the circuit opened, did count.
                return self._wait(job, receive_count, counts, str(error), self.probe_wait_s)
            return self._retry(job, receive_count, counts, str(error))
        except Exception as error:
            # Anything else (a bug, the database) is worth another delivery too.
            logger.exception("job failed unexpectedly", extra={"job_id": str(job.job_id)})
            return self._retry(job, receive_count, JobCounts(), _describe(error))
        self.breaker.record_success()
        return self._store(job, fetched, actions, receive_count)

    def _fetch(self, job: BackfillJob) -> FetchResult:
        return self.provider.fetch_bars(
            job.symbol, job.asset_class, job.timeframe, job.start, job.end
        )

    def _fetch_actions(self, job: BackfillJob) -> ActionsResult | None:
        if not job.refresh_actions:
            return None
        actions = self.provider.fetch_actions(job.symbol, job.asset_class)
        if actions.rejected:
            logger.warning(
                "malformed corporate actions rejected",
                extra={"job_id": str(job.job_id), "reasons": list(actions.rejections)},
            )
        return actions

    def _store(
        self,
        job: BackfillJob,
        fetched: FetchResult,
        actions: ActionsResult | None,
        receive_count: int,
    ) -> JobOutcome:
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
            vendor_requests=fetched.vendor_requests + (actions.vendor_requests if actions else 0),
            actions_rejected=actions.rejected if actions else 0,
        )
        try:
            if actions is not None:
                changed = self.store.save_actions(job.symbol, actions.actions, self.provider.source)
                counts = replace(counts, actions_upserted=changed)
            # The series is this worker's from reading the bars before the range
            # (the verdicts' context) until its own are saved.
            with self.store.series_turn(job.symbol, job.timeframe):
                stored, rejudged = self._assess(job, prepared.bars)
                counts = replace(
                    counts, bars_flagged=sum(1 for s in stored if is_flagged(s.assessment))
                )
                written = self.store.save(job, [*stored, *rejudged], counts)
        except Exception as error:
            logger.exception("storing bars failed", extra={"job_id": str(job.job_id)})
            return self._retry(job, receive_count, counts, _describe(error))
        counts = replace(counts, bars_upserted=written)
        return JobOutcome(
            job, "succeeded", counts, run_completed=self.store.complete_run(job.run_id)
        )

    def _assess(
        self, job: BackfillJob, bars: Sequence[RawBar]
    ) -> tuple[list[StoredBar], list[StoredBar]]:
        """The job's bars with their verdicts, and the stored bars after them judged again.

        A verdict depends on the bars before it. The pieces of a series' history run in
        parallel, so a later piece may have been judged before this one was stored
        (its first bar then saw a gap where this piece is); judged again after this
        piece, their verdicts are what an in-order run gives. Only verdicts can change
        there, and the upsert writes only the rows that did.
        """
        if not bars:
            return [], []
        source = self.provider.source
        context = self.store.context(job.symbol, job.timeframe, bars[0].time, VOLUME_WINDOW)
        following = self.store.following(
            job.symbol, job.timeframe, bars[-1].time, VOLUME_WINDOW, source
        )
        # A split's execution day moves the raw price by its ratio: that is the split,
        # not an anomaly, so validation knows the symbol's splits.
        splits = self.store.splits(job.symbol)
        verdicts = assess(
            [*bars, *(bar for bar, _ in following)], job.asset_class, job.timeframe,
            context=context, splits=splits,
        )  # fmt: skip
        fetched_at = datetime.now(UTC)
        stored = [StoredBar(v.bar, source, v.assessment, fetched_at) for v in verdicts[: len(bars)]]
        rejudged = [
            StoredBar(v.bar, source, v.assessment, fetched)
            for v, (_, fetched) in zip(verdicts[len(bars) :], following, strict=True)
        ]
        return stored, rejudged

    def _wait(
        self, job: BackfillJob, receive_count: int, counts: JobCounts, error: str,
        wait_s: float,
    ) -> JobOutcome:  # fmt: skip
        """Re-send the job delayed until the circuit may close; this delivery is not spent."""
        if self.mailbox is None:
            return self._retry(job, receive_count, counts, error)
        delay = min(self.max_delay_s, max(1, math.ceil(wait_s)))
        waiting = job.model_copy(update={"deliveries": job.deliveries + receive_count - 1})
        try:
            self.mailbox.defer(waiting, delay)
        except Exception as send_error:
            # Not re-sent: the message itself goes back, as before, and spends a delivery.
            logger.warning("job could not be deferred", extra={"error": _describe(send_error)})
            return self._retry(job, receive_count, counts, error)
        note = f"waiting {delay}s for the vendor: {error}"
        self.store.finish(job.job_id, "retrying", counts, note)
        logger.info("job deferred", extra={"job_id": str(job.job_id), "delay_s": delay})
        return JobOutcome(job, "deferred", counts, note, delay_s=delay)

    def _retry(
        self, job: BackfillJob, receive_count: int, counts: JobCounts, error: str
    ) -> JobOutcome:
        spent = job.deliveries + receive_count
        if spent >= self.max_receive_count:
            final = f"{error} (gave up after {spent} deliveries; message to the DLQ)"
            # A re-sent message has had fewer receives than the redrive limit, so
            # going back would not take it to the DLQ: it is put there directly.
            if job.deliveries and self.mailbox and self.mailbox.dead_letter(job, final):
                return self._end(job, "failed", counts, final, requeue=False)
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
