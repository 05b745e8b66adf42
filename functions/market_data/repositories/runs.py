"""Backfill runs as the status pages see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: str
    trigger: str
    started_at: datetime
    jobs_total: int
    jobs_succeeded: int
    jobs_failed: int
    jobs_pending: int
    symbols_succeeded: int
    symbols_failed: int
    bars_upserted: int
    finished_at: datetime | None

    @property
    def running(self) -> bool:
        return self.jobs_pending > 0


_LATEST_RUN = """
SELECT r.id::text, r.trigger, r.started_at, r.jobs_total,
       count(*) FILTER (WHERE j.status = 'succeeded')::int AS jobs_succeeded,
       count(*) FILTER (WHERE j.status = 'failed')::int AS jobs_failed,
       count(*) FILTER (WHERE j.status IN ('queued', 'running', 'retrying'))::int AS jobs_pending,
       (count(DISTINCT j.symbol) - count(DISTINCT j.symbol) FILTER (WHERE j.status = 'failed'))::int
           AS symbols_succeeded,
       count(DISTINCT j.symbol) FILTER (WHERE j.status = 'failed')::int AS symbols_failed,
       coalesce(sum(j.bars_upserted), 0)::bigint AS bars_upserted,
       max(j.finished_at) AS finished_at
FROM (SELECT * FROM backfill_runs ORDER BY started_at DESC LIMIT 1) r
LEFT JOIN backfill_jobs j ON j.run_id = r.id
GROUP BY r.id, r.trigger, r.started_at, r.jobs_total
"""


def latest_run(conn: Connection[Any]) -> RunSummary | None:
    with conn.cursor(row_factory=class_row(RunSummary)) as cur:
        return cur.execute(_LATEST_RUN).fetchone()


@dataclass(frozen=True, slots=True)
class RunProgress:
    """One run and its jobs counted by status (GET /api/v1/admin/backfill/runs/{id})."""

    id: str
    trigger: str
    started_at: datetime
    planned_at: datetime | None
    finished_at: datetime | None
    planning_error: str | None
    jobs_total: int
    queued: int
    running: int
    retrying: int
    succeeded: int
    failed: int
    bars_upserted: int


_RUN_PROGRESS = """
SELECT r.id::text, r.trigger, r.started_at, r.planned_at, r.finished_at, r.planning_error,
       r.jobs_total,
       count(j.id) FILTER (WHERE j.status = 'queued')::int AS queued,
       count(j.id) FILTER (WHERE j.status = 'running')::int AS running,
       count(j.id) FILTER (WHERE j.status = 'retrying')::int AS retrying,
       count(j.id) FILTER (WHERE j.status = 'succeeded')::int AS succeeded,
       count(j.id) FILTER (WHERE j.status = 'failed')::int AS failed,
       coalesce(sum(j.bars_upserted), 0)::bigint AS bars_upserted
FROM backfill_runs r LEFT JOIN backfill_jobs j ON j.run_id = r.id
WHERE r.id = %s
GROUP BY r.id
"""


def run_progress(conn: Connection[Any], run_id: Any) -> RunProgress | None:
    with conn.cursor(row_factory=class_row(RunProgress)) as cur:
        return cur.execute(_RUN_PROGRESS, (run_id,)).fetchone()
