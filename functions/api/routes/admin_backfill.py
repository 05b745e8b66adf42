"""Admin: backfill on demand, through the same planning and SQS queue as the nightly run.

`POST /api/v1/admin/backfill` with `symbols` plans and enqueues their jobs and
answers 202 with the run and job ids; the workers do the rest. Without
`symbols` (the whole universe, which may be 10,000 symbols x 7 timeframes) it
records the run, hands its planning to the fan-out and answers 202 at once
(`status: planning`) with the run to follow:
`GET /api/v1/admin/backfill/runs/{run_id}` counts its jobs by status, and
`GET /api/v1/admin/backfill/{job_id}` reports one job's progress. Dates are
`YYYY-MM-DD` (a whole UTC day; `end` is inclusive, as in the historical
endpoint) or RFC 3339 timestamps. Without
`start`, each series continues from its last stored bar; without `end`, up to now.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.audit import set_audit_target
from api.auth import ADMIN_RESPONSES, AdminKey, require_admin
from api.deps import DatabaseDep, SettingsDep
from api.problems import problem_doc
from market_data.errors import (
    BackfillUnavailableError,
    InvalidRangeError,
    InvalidSymbolError,
    NotFoundError,
)
from market_data.handoff import LambdaPlanningHandoff, ThreadPlanningHandoff
from market_data.history import resolve_window
from market_data.jobs import JobState
from market_data.planning import rules_from_settings
from market_data.queue import SqsJobQueue
from market_data.repositories.jobs import get_job
from market_data.repositories.runs import run_progress
from market_data.runs import (
    PlanningHandoff,
    PlanRequest,
    launch_run,
    plan_pending_run,
    start_pending_run,
)
from market_data.symbols import canonical_symbol
from market_data.timeframes import Timeframe
from market_data.wiring import job_queue, run_store

MAX_SYMBOLS = 1_000
# One request may plan at most this many jobs (the nightly run is not capped):
# enough for every symbol's five years of 5-minute bars, small enough to answer fast.
MAX_JOBS = 20_000

router = APIRouter(
    prefix="/api/v1/admin/backfill",
    tags=["admin: backfill"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SYMBOLS,
        description="Tracked symbols (default: every active one); inactive ones may be named.",
        examples=[["AAPL", "BTC-USD"]],
    )
    timeframes: list[Timeframe] | None = Field(
        default=None, min_length=1, description="Default: each symbol's own timeframes."
    )
    start: str | None = Field(
        default=None,
        description="YYYY-MM-DD or RFC 3339. Default: a couple of bars before the last stored.",
        examples=["2024-01-01"],
    )
    end: str | None = Field(
        default=None, description="YYYY-MM-DD (inclusive) or RFC 3339. Default: now."
    )

    @field_validator("symbols")
    @classmethod
    def _canonical(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        try:
            return list(dict.fromkeys(canonical_symbol(v) for v in values))
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("timeframes")
    @classmethod
    def _unique(cls, values: list[Timeframe] | None) -> list[Timeframe] | None:
        return None if values is None else list(dict.fromkeys(values))


class JobSummary(BaseModel):
    job_id: uuid.UUID
    symbol: str
    timeframe: Timeframe
    start: datetime
    end: datetime


class BackfillAccepted(BaseModel):
    run_id: uuid.UUID
    status: Literal["queued", "planning"] = Field(
        default="queued",
        description="queued: the jobs below are in the queue. planning: the whole universe "
        "is being planned by the fan-out; follow run_url (the job lists here are empty).",
    )
    jobs_total: int
    job_ids: list[uuid.UUID]
    jobs: list[JobSummary]
    not_enqueued: list[uuid.UUID] = Field(
        description="Jobs SQS refused; they are recorded as failed with the reason."
    )
    status_url: str = Field(description="Follow one job: replace {job_id}.")
    run_url: str = Field(description="Follow the run: its jobs counted by status.")


class RunStatus(BaseModel):
    """A backfill run and its jobs counted by status."""

    run_id: uuid.UUID = Field(validation_alias="id")
    trigger: str
    status: Literal["planning", "running", "finished"]
    started_at: datetime
    planned_at: datetime | None = Field(description="When its jobs were planned and recorded.")
    finished_at: datetime | None
    error: str | None = Field(
        validation_alias="planning_error", description="Why the run could not be planned."
    )
    jobs_total: int
    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int
    bars_upserted: int


class JobStatus(BaseModel):
    """A job as the admin API shows it (read straight from the stored JobRecord)."""

    model_config = ConfigDict(from_attributes=True)

    job_id: uuid.UUID = Field(validation_alias="id")
    run_id: uuid.UUID
    symbol: str
    asset_class: str | None
    timeframe: str
    start: datetime = Field(validation_alias="range_start")
    end: datetime = Field(validation_alias="range_end")
    status: JobState
    attempts: int
    bars_fetched: int
    bars_upserted: int
    bars_flagged: int
    bars_rejected: int
    vendor_requests: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@cache
def _sqs_client(endpoint_url: str | None) -> Any:
    # Created on first use, not at import: the API's cold start should not pay for
    # boto3 unless an admin starts a backfill.
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url)


def backfill_queue(settings: SettingsDep) -> SqsJobQueue:
    if not settings.backfill_queue_url:
        raise BackfillUnavailableError("The backfill queue is not configured.")
    return job_queue(settings, _sqs_client(settings.aws_endpoint_url))


BackfillQueueDep = Annotated[SqsJobQueue, Depends(backfill_queue)]


@cache
def _lambda_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # One attempt within a second or two: the answer must not wait on Lambda's
    # retries (a failed hand-off ends the run, and the admin may start it again).
    config = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2})
    return boto3.client("lambda", endpoint_url=endpoint_url, config=config)


def planning_handoff(settings: SettingsDep, queue: BackfillQueueDep) -> PlanningHandoff:
    """The fan-out function when deployed; a thread of this process otherwise."""
    if settings.fanout_function_name:
        client = _lambda_client(settings.aws_endpoint_url)
        return LambdaPlanningHandoff(client, settings.fanout_function_name)
    rules, store = rules_from_settings(settings), run_store(settings)
    return ThreadPlanningHandoff(lambda r: plan_pending_run(rules, store, queue, r))


PlanningHandoffDep = Annotated[PlanningHandoff, Depends(planning_handoff)]


@router.post(
    "",
    status_code=202,
    response_model=BackfillAccepted,
    summary="Backfill chosen symbols, timeframes and range now (jobs go to the worker queue)",
    responses={
        422: problem_doc("Bad body, unknown symbol, reversed range or too many jobs"),
        503: problem_doc("The queue or the database is unavailable"),
    },
)
def start_backfill(
    body: BackfillRequest,
    _: AdminKey,
    settings: SettingsDep,
    queue: BackfillQueueDep,
    handoff: PlanningHandoffDep,
    request: Request,
) -> BackfillAccepted:
    now = datetime.now(UTC)
    start, end = resolve_window(body.start, body.end)
    if start is not None and end is None and start >= now:
        raise InvalidRangeError("start must be before end (now)")
    prefix = f"{request.scope.get('root_path', '')}{router.prefix}"
    if body.symbols is None:
        # The whole universe: planning it is the fan-out's work, not the request's.
        pending: PlanRequest = start_pending_run(
            run_store(settings), handoff, trigger="admin", timeframes=body.timeframes,
            start=start, end=end,
        )  # fmt: skip
        set_audit_target(request, f"run:{pending.run_id}")
        return BackfillAccepted(
            run_id=pending.run_id, status="planning", jobs_total=0, job_ids=[], jobs=[],
            not_enqueued=[], status_url=f"{prefix}/{{job_id}}",
            run_url=f"{prefix}/runs/{pending.run_id}",
        )  # fmt: skip
    launched = launch_run(
        rules_from_settings(settings),
        run_store(settings),
        queue,
        trigger="admin",
        symbols=body.symbols,
        timeframes=body.timeframes,
        start=start,
        end=end,
        now=now,
        max_jobs=MAX_JOBS,
    )
    set_audit_target(request, f"run:{launched.run_id}")
    return BackfillAccepted(
        run_id=launched.run_id,
        jobs_total=len(launched.jobs),
        job_ids=[j.job_id for j in launched.jobs],
        jobs=[
            JobSummary(
                job_id=j.job_id, symbol=j.symbol, timeframe=j.timeframe, start=j.start, end=j.end
            )
            for j in launched.jobs
        ],
        not_enqueued=[uuid.UUID(u.job_id) for u in launched.report.unsent],
        status_url=f"{prefix}/{{job_id}}",
        run_url=f"{prefix}/runs/{launched.run_id}",
    )


@router.get(
    "/runs/{run_id}",
    response_model=RunStatus,
    summary="One backfill run: planning, running or finished, and its jobs counted by status",
    responses={404: problem_doc("No such run")},
)
def backfill_run(run_id: uuid.UUID, db: DatabaseDep) -> RunStatus:
    progress = run_progress(db.conn, run_id)
    if progress is None:
        raise NotFoundError(f"No backfill run {run_id}.")
    if progress.planned_at is None:
        state = "planning"
    elif progress.finished_at is None:
        state = "running"
    else:
        state = "finished"
    return RunStatus.model_validate({**dataclasses.asdict(progress), "status": state})


@router.get(
    "/{job_id}",
    response_model=JobStatus,
    summary="One backfill job: status, attempts, bars written, last error",
    responses={404: problem_doc("No such job")},
)
def backfill_job(job_id: uuid.UUID, db: DatabaseDep) -> JobStatus:
    job = get_job(db.conn, job_id)
    if job is None:
        raise NotFoundError(f"No backfill job {job_id}.")
    return JobStatus.model_validate(job)
