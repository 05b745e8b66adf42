"""The worker's decisions, with in-memory fakes behind its Protocols (no database, no HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
from market_data.providers import FetchResult
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.worker import Worker

START = datetime(2024, 3, 4, tzinfo=UTC)


def job() -> BackfillJob:
    return BackfillJob(
        job_id=uuid.uuid4(), run_id=uuid.uuid4(), symbol="AAPL", asset_class=AssetClass.STOCK,
        timeframe=Timeframe.D1, start=START, end=START + timedelta(days=5),
    )  # fmt: skip


def daily_bars(count: int = 5) -> list[RawBar]:
    return [
        RawBar(START + timedelta(days=i, hours=5), 10.0, 10.5, 9.5, 10.2, 1000.0)
        for i in range(count)
    ]


@dataclass
class MemoryStore:
    claims: dict[uuid.UUID, ClaimState] = field(default_factory=dict)
    saved: list[tuple[uuid.UUID, list[StoredBar], JobCounts]] = field(default_factory=list)
    finished: list[tuple[uuid.UUID, JobState, JobCounts, str | None]] = field(default_factory=list)
    open_runs: set[uuid.UUID] = field(default_factory=set)
    completed: list[uuid.UUID] = field(default_factory=list)
    fail_save: bool = False

    def claim(self, job_id: uuid.UUID) -> ClaimState:
        return self.claims.get(job_id, "claimed")

    def series_turn(self, symbol: str, timeframe: Timeframe) -> AbstractContextManager[None]:
        return nullcontext()

    def context(
        self, symbol: str, timeframe: Timeframe, before: datetime, limit: int
    ) -> list[RawBar]:
        return []

    def following(
        self, symbol: str, timeframe: Timeframe, after: datetime, limit: int, source: str
    ) -> list[tuple[RawBar, datetime]]:
        return []

    def save(self, job: BackfillJob, bars: Sequence[StoredBar], counts: JobCounts) -> int:
        if self.fail_save:
            raise OSError("connection reset")
        self.saved.append((job.job_id, list(bars), counts))
        return len(bars)

    def finish(
        self, job_id: uuid.UUID, status: JobState, counts: JobCounts, error: str | None
    ) -> None:
        self.finished.append((job_id, status, counts, error))

    def save_actions(self, symbol: str, actions: CorporateActions, source: str) -> int:
        return 0

    def splits(self, symbol: str) -> tuple[Split, ...]:
        return ()

    def complete_run(self, run_id: uuid.UUID) -> bool:
        if run_id in self.open_runs:
            return False
        self.completed.append(run_id)
        return True


@dataclass
class ScriptedProvider:
    """Raises or returns what it is told; counts calls."""

    answer: Any
    source: str = "fake"
    calls: int = 0

    def fetch_bars(self, *args: Any) -> FetchResult:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return FetchResult(self.answer, vendor_requests=3, rejected=1)


@dataclass
class MemoryBreaker:
    open: bool = False
    failures: list[str] = field(default_factory=list)
    successes: int = 0

    def check(self) -> None:
        if self.open:
            raise CircuitOpenError("circuit is open")

    def record_success(self) -> None:
        self.successes += 1

    def record_failure(self, error: str) -> None:
        self.failures.append(error)


def worker(answer: Any, **store_options: Any) -> tuple[Worker, MemoryStore, ScriptedProvider,
                                                       MemoryBreaker]:  # fmt: skip
    store, provider, breaker = (
        MemoryStore(**store_options),
        ScriptedProvider(answer),
        MemoryBreaker(),
    )
    return Worker(provider, store, breaker, max_receive_count=5), store, provider, breaker


def test_a_fetched_job_is_validated_saved_and_closes_the_circuit() -> None:
    w, store, _, breaker = worker(daily_bars())
    the_job = job()

    outcome = w.run(the_job)

    assert outcome.outcome == "succeeded" and not outcome.requeue and outcome.run_completed
    [(job_id, stored, counts)] = store.saved
    assert job_id == the_job.job_id and len(stored) == 5
    assert all(s.source == "fake" and s.assessment.validated for s in stored)
    assert (counts.bars_fetched, counts.vendor_requests, counts.bars_rejected) == (5, 3, 1)
    assert outcome.counts.bars_upserted == 5
    assert breaker.successes == 1 and breaker.failures == []


def test_a_permanent_refusal_fails_the_job_and_leaves_the_circuit_alone() -> None:
    w, store, _, breaker = worker(PermanentVendorError("NOT_AUTHORIZED", vendor_requests=1))

    outcome = w.run(job())

    assert (outcome.outcome, outcome.requeue) == ("failed", False)
    assert [f[1] for f in store.finished] == ["failed"]
    assert breaker.failures == [] and breaker.successes == 0


def test_a_transient_failure_is_retried_and_counted_against_the_circuit() -> None:
    w, store, _, breaker = worker(TransientVendorError("502 after 6 attempts", vendor_requests=6))

    outcome = w.run(job(), receive_count=2)

    assert (outcome.outcome, outcome.requeue) == ("retrying", True)
    assert not outcome.run_completed and store.completed == []
    [(_, status, counts, error)] = store.finished
    assert (status, counts.vendor_requests, error) == ("retrying", 6, "502 after 6 attempts")
    assert breaker.failures == ["502 after 6 attempts"]


def test_an_open_circuit_skips_the_vendor_without_counting_another_failure() -> None:
    w, _store, provider, breaker = worker(daily_bars())
    breaker.open = True

    outcome = w.run(job())

    assert (outcome.outcome, outcome.requeue, provider.calls) == ("retrying", True, 0)
    assert breaker.failures == []


@pytest.mark.parametrize("receive_count", [5, 6])
def test_the_last_delivery_records_failure_but_still_goes_to_the_dead_letter_queue(
    receive_count: int,
) -> None:
    w, _store, _, _ = worker(TransientVendorError("timeout"))

    outcome = w.run(job(), receive_count=receive_count)

    assert (outcome.outcome, outcome.requeue, outcome.run_completed) == ("failed", True, True)
    assert "gave up after" in (outcome.error or "")


def test_a_database_failure_while_saving_is_retried() -> None:
    w, _store, _, _ = worker(daily_bars(), fail_save=True)

    outcome = w.run(job())

    assert (outcome.outcome, outcome.requeue) == ("retrying", True)
    assert "OSError: connection reset" in (outcome.error or "")


def test_a_finished_job_delivered_again_is_not_fetched_again() -> None:
    the_job = job()
    w, store, provider, _ = worker(daily_bars(), claims={the_job.job_id: "done"})

    outcome = w.run(the_job)

    assert (outcome.outcome, provider.calls, store.saved) == ("duplicate", 0, [])


def test_a_message_for_an_unrecorded_job_is_an_error_so_it_ends_in_the_dlq() -> None:
    the_job = job()
    w, _, provider, _ = worker(daily_bars(), claims={the_job.job_id: "unknown"})

    with pytest.raises(UnknownJobError):
        w.run(the_job)
    assert provider.calls == 0
