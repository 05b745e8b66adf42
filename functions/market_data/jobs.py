"""Backfill jobs as the use cases see them: states, counts and what sending them did.

A job's life: queued (fan-out) -> running (a worker claimed it) -> succeeded |
retrying (a transient failure; the message went back to the queue) | failed
(permanent, or the last delivery before the dead-letter queue). A run is
finished when none of its jobs is queued, running or retrying.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from market_data.planning import BackfillJob

JobState = Literal["queued", "running", "succeeded", "failed", "retrying"]
# What claiming a delivered job found: ours to run, already finished, or never recorded.
ClaimState = Literal["claimed", "done", "unknown"]


@dataclass(frozen=True, slots=True)
class JobCounts:
    """What one attempt did; attempts add up vendor requests, the rest is the latest."""

    bars_fetched: int = 0
    bars_upserted: int = 0
    bars_flagged: int = 0
    bars_rejected: int = 0
    vendor_requests: int = 0
    actions_upserted: int = 0  # splits and dividends inserted, revised or withdrawn
    actions_rejected: int = 0  # malformed actions the vendor sent


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as the warehouse records it."""

    id: uuid.UUID
    run_id: uuid.UUID
    symbol: str
    asset_class: str | None
    timeframe: str
    range_start: datetime
    range_end: datetime
    status: JobState
    attempts: int
    bars_fetched: int
    bars_upserted: int
    bars_flagged: int
    bars_rejected: int
    vendor_requests: int
    actions_upserted: int
    actions_rejected: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class StuckJob:
    """A job past its bound, as the stuck-job check finds it (market_data.recovery)."""

    job: BackfillJob
    status: JobState
    attempts: int
    resent_before: bool  # the check re-sent it once already
    enqueued_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UnsentJob:
    job_id: str
    code: str
    message: str


@dataclass(slots=True)
class EnqueueReport:
    """How many jobs reached the queue, in how many calls, and which did not (and why)."""

    sent: int = 0
    calls: int = 0
    unsent: list[UnsentJob] = field(default_factory=list)
