"""Planning a backfill run: which (symbol, timeframe, range) jobs to send to the workers.

Pure functions over what the warehouse already holds: one job per tracked
series (more when an intraday range is longer than one worker should take on),
starting a few bars before the last stored one so a bar that was still forming
when it was stored, or that the vendor has since revised, is fetched again.
A series with nothing stored yet gets the configured initial history.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from market_data.models import TrackedSymbol
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

Trigger = Literal["schedule", "admin", "cli"]


class BackfillJob(BaseModel):
    """One unit of work and the body of one SQS message."""

    model_config = ConfigDict(frozen=True)

    job_id: uuid.UUID
    run_id: uuid.UUID
    symbol: str
    asset_class: AssetClass
    timeframe: Timeframe
    start: AwareDatetime  # inclusive, UTC
    end: AwareDatetime  # exclusive, UTC
    # One job per stock or ETF in each run also refreshes the symbol's splits and
    # dividends (they are per symbol, not per timeframe).
    refresh_actions: bool = False
    # Deliveries the job already spent before this message: a job that waited out an
    # open vendor circuit is re-sent (a new message, receive count 1) and carries
    # them, so the redrive limit still counts its real attempts.
    deliveries: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _range_is_forward(self) -> BackfillJob:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


@dataclass(frozen=True, slots=True)
class PlanningRules:
    initial_history_daily: timedelta
    initial_history_intraday: timedelta
    overlap_bars: int
    max_job_span_intraday: timedelta
    # The configured provider's source name: a series holding another provider's
    # bars is planned like a new one (its full initial history, from this provider).
    source: str = "synthetic"


@dataclass(frozen=True, slots=True)
class RunPlan:
    run_id: uuid.UUID
    trigger: Trigger
    jobs: list[BackfillJob]


def incremental_start(
    timeframe: Timeframe, last_time: datetime | None, now: datetime, rules: PlanningRules
) -> datetime:
    """Where a series' next fetch starts: just before its last bar, or its initial history."""
    if last_time is None:
        history = (
            rules.initial_history_intraday if timeframe.is_intraday else rules.initial_history_daily
        )
        return now - history
    return last_time - timeframe.duration * rules.overlap_bars


def split_range(
    timeframe: Timeframe, start: datetime, end: datetime, rules: PlanningRules
) -> list[tuple[datetime, datetime]]:
    """Intraday ranges in pieces of at most max_job_span_intraday; others whole; empty ones none."""
    if start >= end:
        return []
    if not timeframe.is_intraday:
        return [(start, end)]
    pieces, cursor = [], start
    while cursor < end:
        piece_end = min(end, cursor + rules.max_job_span_intraday)
        pieces.append((cursor, piece_end))
        cursor = piece_end
    return pieces


def plan_run(
    symbols: Iterable[TrackedSymbol],
    last_times: Mapping[tuple[str, Timeframe], datetime],
    now: datetime,
    rules: PlanningRules,
    *,
    trigger: Trigger = "schedule",
    timeframes: Sequence[Timeframe] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    vendor_adjusted: Mapping[tuple[str, Timeframe], tuple[datetime, datetime]] | None = None,
    run_id: uuid.UUID | None = None,
) -> RunPlan:
    """Jobs for every symbol and each of its timeframes.

    `timeframes` replaces each symbol's own list; `start`/`end` replace the
    incremental range (an explicit re-fetch). Series already up to date get no job.
    A series still holding vendor-adjusted bars (`vendor_adjusted`, stored before
    raw storage) also gets that range re-fetched raw, oldest first, until none is left.
    """
    run_id = run_id or uuid.uuid4()
    until = end or now
    jobs: list[BackfillJob] = []
    for tracked in symbols:
        first_job = len(jobs)
        for timeframe in timeframes or tracked.timeframes:
            key = (tracked.symbol, timeframe)
            ranges = [(start or incremental_start(timeframe, last_times.get(key), now, rules),
                       until)]  # fmt: skip
            if start is None and end is None and vendor_adjusted and key in vendor_adjusted:
                ranges.insert(0, vendor_adjusted[key])
            for since, upto in ranges:
                for piece_start, piece_end in split_range(timeframe, since, upto, rules):
                    jobs.append(
                        BackfillJob.model_construct(  # fields are already typed and checked
                            job_id=uuid.uuid4(),
                            run_id=run_id,
                            symbol=tracked.symbol,
                            asset_class=tracked.asset_class,
                            timeframe=timeframe,
                            start=piece_start,
                            end=piece_end,
                            refresh_actions=False,
                        )
                    )
        mine = jobs[first_job:]
        if mine and tracked.asset_class in (AssetClass.STOCK, AssetClass.ETF):
            # The daily job if there is one: it is the one whose bars the dividend
            # factors read, so it should see the actions it is validated against.
            # (By position: searching the list for it made planning quadratic.)
            lead = next(
                (first_job + i for i, j in enumerate(mine) if j.timeframe is Timeframe.D1),
                first_job,
            )
            jobs[lead] = jobs[lead].model_copy(update={"refresh_actions": True})
    return RunPlan(run_id, trigger, jobs)


def rules_from_settings(settings: Settings) -> PlanningRules:
    return PlanningRules(
        initial_history_daily=timedelta(days=settings.initial_history_days_daily),
        initial_history_intraday=timedelta(days=settings.initial_history_days_intraday),
        overlap_bars=settings.backfill_overlap_bars,
        max_job_span_intraday=timedelta(days=settings.backfill_max_job_days_intraday),
        source=settings.market_data_provider,
    )
