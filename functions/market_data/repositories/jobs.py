"""Backfill runs and jobs in PostgreSQL: what the fan-out records and the workers update.

The states are described in market_data.jobs. A run is finished when none of
its jobs is open; the worker that makes it so stamps `backfill_runs.finished_at`,
exactly once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.rows import class_row

from market_data.corporate_actions import CorporateActions, Split
from market_data.jobs import ClaimState, JobCounts, JobRecord, JobState, StuckJob
from market_data.models import RawBar, SeriesStats, StoredBar, TrackedSymbol
from market_data.planning import BackfillJob, Trigger
from market_data.repositories.actions import read_actions, replace_actions
from market_data.repositories.bars import upsert_bars
from market_data.repositories.symbols import list_series_stats, list_symbols
from market_data.symbols import AssetClass, infer_asset_class
from market_data.timeframes import Timeframe

# Where a connection comes from: `pool.connection` in the services, a fixture in tests.
_SHRINK_VENDOR_ADJUSTED = """
UPDATE series_stats SET
    vendor_adjusted_from = CASE WHEN %(end)s < vendor_adjusted_until THEN %(end)s END,
    vendor_adjusted_until = CASE WHEN %(end)s < vendor_adjusted_until
                                 THEN vendor_adjusted_until END
WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s
  AND vendor_adjusted_from IS NOT NULL AND %(start)s <= vendor_adjusted_from
  AND %(end)s > vendor_adjusted_from
"""


def shrink_vendor_adjusted(conn: Connection[Any], job: BackfillJob) -> None:
    """A job that stored raw bars from the start of the series' vendor-adjusted range
    moves that range's start past its own end (and clears it once nothing is left).

    Only from the start: a job further in leaves the range alone, so what remains
    always is one contiguous range, and the next run re-fetches it.
    """
    conn.execute(
        _SHRINK_VENDOR_ADJUSTED,
        {"symbol": job.symbol, "timeframe": job.timeframe.value, "start": job.start,
         "end": job.end},
    )  # fmt: skip


ConnectionSource = Callable[[], AbstractContextManager[Connection[Any]]]

MAX_ERROR_LENGTH = 1000
_SERIES_TURN_CLASS = 0x7475726E  # "turn": apart from upsert_bars' per-write lock class


_JOB_COLUMNS = (
    "id, run_id, symbol, asset_class, timeframe, range_start, range_end, status, attempts, "
    "bars_fetched, bars_upserted, bars_flagged, bars_rejected, vendor_requests, "
    "actions_upserted, actions_rejected, error, "
    "created_at, updated_at, finished_at"
)


def record_pending_run(conn: Connection[Any], run_id: uuid.UUID, trigger: Trigger) -> None:
    """A run whose jobs the fan-out will plan (`planned_at` empty until it has)."""
    conn.execute(
        "INSERT INTO backfill_runs (id, trigger, jobs_total, planned_at) VALUES (%s, %s, 0, NULL)",
        (run_id, trigger),
    )


def fail_planning(conn: Connection[Any], run_id: uuid.UUID, error: str) -> None:
    """A pending run that could not be planned: finished, with the reason."""
    conn.execute(
        "UPDATE backfill_runs SET planning_error = %s, planned_at = now(), finished_at = now() "
        "WHERE id = %s AND planned_at IS NULL",
        (error[:MAX_ERROR_LENGTH], run_id),
    )


def fail_unplanned_runs(conn: Connection[Any], before: datetime) -> list[uuid.UUID]:
    """Runs recorded before `before` and never planned (the hand-off was lost): ended."""
    rows = conn.execute(
        "UPDATE backfill_runs SET planned_at = now(), finished_at = now(), "
        "planning_error = 'not planned: the fan-out never took the run over' "
        "WHERE planned_at IS NULL AND started_at < %s RETURNING id",
        (before,),
    ).fetchall()
    return [row[0] for row in rows]


def record_run(conn: Connection[Any], run_id: uuid.UUID, trigger: Trigger,
               jobs: Sequence[BackfillJob], *, pending: bool = False) -> None:  # fmt: skip
    """The run and all its jobs (status queued), in one transaction, jobs by COPY.

    `pending`: the run was recorded already (record_pending_run) and gets its jobs.
    """
    with conn.transaction(), conn.cursor() as cur:
        if pending:
            cur.execute(
                "UPDATE backfill_runs SET jobs_total = %s, planned_at = now(), "
                "finished_at = CASE WHEN %s THEN now() END "
                "WHERE id = %s AND planned_at IS NULL",
                (len(jobs), not jobs, run_id),
            )
            if cur.rowcount != 1:
                raise ValueError(f"run {run_id} is not waiting to be planned")
        else:
            cur.execute(
                "INSERT INTO backfill_runs (id, trigger, jobs_total, finished_at) "
                "VALUES (%s, %s, %s, CASE WHEN %s THEN now() END)",
                (run_id, trigger, len(jobs), not jobs),
            )
        with cur.copy(
            "COPY backfill_jobs (id, run_id, symbol, asset_class, timeframe, range_start, "
            "range_end) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "uuid", "text", "text", "text", "timestamptz", "timestamptz"])
            for job in jobs:
                copy.write_row(
                    (job.job_id, run_id, job.symbol, job.asset_class.value, job.timeframe.value,
                     job.start, job.end)
                )  # fmt: skip


def get_job(conn: Connection[Any], job_id: uuid.UUID) -> JobRecord | None:
    with conn.cursor(row_factory=class_row(JobRecord)) as cur:
        return cur.execute(
            f"SELECT {_JOB_COLUMNS} FROM backfill_jobs WHERE id = %s", (job_id,)
        ).fetchone()


def claim_job(conn: Connection[Any], job_id: uuid.UUID) -> JobRecord | None:
    """Mark a job running and count the attempt; None when it is unknown or already done.

    A succeeded job is left alone: SQS delivers at least once, and a duplicate
    delivery should not spend the vendor budget again.
    """
    with conn.cursor(row_factory=class_row(JobRecord)) as cur:
        return cur.execute(
            "UPDATE backfill_jobs SET status = 'running', attempts = attempts + 1, "
            "finished_at = NULL, updated_at = now() "
            f"WHERE id = %s AND status <> 'succeeded' RETURNING {_JOB_COLUMNS}",
            (job_id,),
        ).fetchone()


def finish_job(
    conn: Connection[Any],
    job_id: uuid.UUID,
    status: JobState,
    counts: JobCounts,
    error: str | None = None,
) -> None:
    terminal = status in ("succeeded", "failed")
    conn.execute(
        """
        UPDATE backfill_jobs SET status = %(status)s,
            bars_fetched = %(fetched)s, bars_upserted = %(upserted)s, bars_flagged = %(flagged)s,
            bars_rejected = %(rejected)s, vendor_requests = vendor_requests + %(requests)s,
            actions_upserted = %(actions_upserted)s, actions_rejected = %(actions_rejected)s,
            error = %(error)s, updated_at = now(),
            finished_at = CASE WHEN %(terminal)s THEN now() END
        WHERE id = %(id)s
        """,
        {
            "id": job_id,
            "status": status,
            "fetched": counts.bars_fetched,
            "upserted": counts.bars_upserted,
            "flagged": counts.bars_flagged,
            "rejected": counts.bars_rejected,
            "requests": counts.vendor_requests,
            "actions_upserted": counts.actions_upserted,
            "actions_rejected": counts.actions_rejected,
            "error": error[:MAX_ERROR_LENGTH] if error else None,
            "terminal": terminal,
        },
    )


def fail_jobs(conn: Connection[Any], failures: Sequence[tuple[uuid.UUID, str]]) -> None:
    """Jobs that never reached the queue: failed, with the reason."""
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE backfill_jobs SET status = 'failed', error = %s, updated_at = now(), "
            "finished_at = now() WHERE id = %s",
            [(error[:MAX_ERROR_LENGTH], job_id) for job_id, error in failures],
        )


def mark_enqueued(
    conn: Connection[Any], run_id: uuid.UUID, unsent: Sequence[uuid.UUID] = ()
) -> None:
    """The run's jobs the queue took: stamped, so the stuck-job check leaves them alone."""
    conn.execute(
        "UPDATE backfill_jobs SET enqueued_at = now() "
        "WHERE run_id = %s AND enqueued_at IS NULL AND NOT (id = ANY(%s))",
        (run_id, list(unsent)),
    )


# The mark a re-send leaves on a job: a job stuck again after it is failed, not re-sent.
RESENT_MARK = "re-sent by the stuck-job check"

_STUCK = f"""
SELECT id, run_id, symbol, asset_class, timeframe, range_start, range_end, status,
       attempts, coalesce(error, '') LIKE '{RESENT_MARK}%%' AS resent_before,
       enqueued_at, updated_at
FROM backfill_jobs
WHERE (status = 'queued' AND enqueued_at IS NULL AND created_at < %(unsent)s)
   OR (status IN ('running', 'retrying') AND updated_at < %(stuck)s)
   OR (status = 'queued' AND enqueued_at < %(expired)s)
   OR (status IN ('queued', 'running', 'retrying') AND updated_at < %(orphaned)s)
ORDER BY created_at
LIMIT %(limit)s
"""


def stuck_jobs(
    conn: Connection[Any], *, unsent_before: datetime, stuck_before: datetime,
    expired_before: datetime, orphaned_before: datetime | None, limit: int,
) -> list[StuckJob]:  # fmt: skip
    """Jobs past their bound: recorded and never sent, running with no message left,
    queued longer than a message lives, or (`orphaned_before`, when the queue is
    empty) any unfinished job untouched since then."""
    rows = conn.execute(
        _STUCK,
        {"unsent": unsent_before, "stuck": stuck_before, "expired": expired_before,
         "orphaned": orphaned_before, "limit": limit},
    ).fetchall()  # fmt: skip
    stuck = []
    for row in rows:
        symbol, asset_class = row[2], row[3]
        timeframe = Timeframe(row[4])
        kind = AssetClass(asset_class) if asset_class else infer_asset_class(symbol)
        job = BackfillJob.model_construct(
            job_id=row[0], run_id=row[1], symbol=symbol, asset_class=kind, timeframe=timeframe,
            start=row[5], end=row[6], deliveries=0,
            # Which job of a run refreshed the splits and dividends is not stored: a
            # re-sent daily job of a stock or ETF does it (twice is harmless).
            refresh_actions=timeframe is Timeframe.D1 and kind in (AssetClass.STOCK,
                                                                   AssetClass.ETF),
        )  # fmt: skip
        stuck.append(
            StuckJob(job, row[7], attempts=row[8], resent_before=row[9], enqueued_at=row[10],
                     updated_at=row[11])
        )  # fmt: skip
    return stuck


def mark_resent(conn: Connection[Any], job_ids: Sequence[uuid.UUID]) -> None:
    conn.execute(
        "UPDATE backfill_jobs SET status = 'queued', enqueued_at = now(), updated_at = now(), "
        f"error = '{RESENT_MARK} at ' || now()::text "
        "WHERE id = ANY(%s) AND status IN ('queued', 'running', 'retrying')",
        (list(job_ids),),
    )


def forget_messages(conn: Connection[Any]) -> int:
    """Every unfinished job as never sent, for a queue that starts empty (make dev's
    emulated one): the stuck-job check then sends them again. Returns how many."""
    return conn.execute(
        "UPDATE backfill_jobs SET status = 'queued', enqueued_at = NULL, updated_at = now() "
        "WHERE status IN ('queued', 'running', 'retrying')"
    ).rowcount


def complete_run_if_done(conn: Connection[Any], run_id: uuid.UUID) -> bool:
    """Stamp the run finished if no job is open; True for the one caller that did it."""
    row = conn.execute(
        """
        UPDATE backfill_runs r SET finished_at = now()
        WHERE r.id = %s AND r.finished_at IS NULL AND r.planned_at IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM backfill_jobs j
            WHERE j.run_id = r.id AND j.status IN ('queued', 'running', 'retrying'))
        RETURNING r.id
        """,
        (run_id,),
    ).fetchone()
    return row is not None


def bars_before(
    conn: Connection[Any], symbol: str, timeframe: Timeframe, before: datetime, limit: int
) -> list[RawBar]:
    """Validation context, oldest first: the last `limit` valid bars before a time,
    and the very last bar before it whether valid or not."""
    rows = conn.execute(
        """
        (SELECT time, open, high, low, close, volume, vwap, trades FROM bars
         WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND time < %(before)s
           AND validated ORDER BY time DESC LIMIT %(limit)s)
        UNION
        (SELECT time, open, high, low, close, volume, vwap, trades FROM bars
         WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND time < %(before)s
         ORDER BY time DESC LIMIT 1)
        ORDER BY time
        """,
        {"symbol": symbol, "timeframe": timeframe.value, "before": before, "limit": limit},
    ).fetchall()
    return [RawBar(*row) for row in rows]


def bars_after(
    conn: Connection[Any], symbol: str, timeframe: Timeframe, after: datetime, valid: int,
    source: str,
) -> list[tuple[RawBar, datetime]]:  # fmt: skip
    """The stored bars of one source just after a time whose verdicts can depend on
    the bars before it, oldest first, each with when it was fetched: every bar up to
    and including the `valid`-th validated one (all of them if there are fewer)."""
    rows = conn.execute(
        """
        SELECT time, open, high, low, close, volume, vwap, trades, fetched_at FROM bars
        WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s AND source = %(source)s
          AND time > %(after)s
          AND time <= coalesce((
              SELECT max(time) FROM (
                  SELECT time FROM bars
                  WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s
                    AND source = %(source)s AND time > %(after)s AND validated
                  ORDER BY time LIMIT %(valid)s) v
              HAVING count(*) = %(valid)s), 'infinity')
        ORDER BY time
        """,
        {"symbol": symbol, "timeframe": timeframe.value, "after": after, "valid": valid,
         "source": source},
    ).fetchall()  # fmt: skip
    return [(RawBar(*row[:-1]), row[-1]) for row in rows]


class PostgresBackfillStore:
    """The worker's view of the warehouse, one pooled connection per call.

    A job's bars and its final status are written in one transaction, so a
    crash between the two cannot leave bars stored under a job still 'running'.
    """

    def __init__(self, connect: ConnectionSource) -> None:
        self._connect = connect
        self._held = threading.local()  # the connection of this thread's series turn

    @contextmanager
    def series_turn(self, symbol: str, timeframe: Timeframe) -> Iterator[None]:
        """One worker at a time per series, from reading the bars before its range to
        saving its own: verdicts (gaps, volume) judged against bars another job was
        still writing were stale, and the last writer's stale verdict stayed.

        A session advisory lock on a connection that context() and save() then use
        too; unlocked before the connection goes back to the pool (a broken one is
        discarded by the pool, and its session took the lock with it).
        """
        key = (_SERIES_TURN_CLASS, f"{symbol}|{timeframe.value}")
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None
                with suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def _connection(self) -> AbstractContextManager[Connection[Any]]:
        held: Connection[Any] | None = getattr(self._held, "conn", None)
        return nullcontext(held) if held is not None else self._connect()

    def claim(self, job_id: uuid.UUID) -> ClaimState:
        with self._connect() as conn:
            if claim_job(conn, job_id) is not None:
                return "claimed"
            return "done" if get_job(conn, job_id) is not None else "unknown"

    def context(
        self, symbol: str, timeframe: Timeframe, before: datetime, limit: int
    ) -> list[RawBar]:
        with self._connection() as conn:
            return bars_before(conn, symbol, timeframe, before, limit)

    def following(
        self, symbol: str, timeframe: Timeframe, after: datetime, limit: int, source: str
    ) -> list[tuple[RawBar, datetime]]:
        with self._connection() as conn:
            return bars_after(conn, symbol, timeframe, after, limit, source)

    def save(self, job: BackfillJob, bars: Sequence[StoredBar], counts: JobCounts) -> int:
        with self._connection() as conn, conn.transaction():
            written = upsert_bars(conn, job.symbol, job.timeframe, bars)
            shrink_vendor_adjusted(conn, job)
            finish_job(conn, job.job_id, "succeeded", replace(counts, bars_upserted=written))
        return written

    def save_actions(self, symbol: str, actions: CorporateActions, source: str) -> int:
        with self._connect() as conn:
            return replace_actions(conn, symbol, actions, source, datetime.now(UTC))

    def splits(self, symbol: str) -> tuple[Split, ...]:
        with self._connection() as conn:
            return read_actions(conn, symbol).splits

    def finish(
        self, job_id: uuid.UUID, status: JobState, counts: JobCounts, error: str | None
    ) -> None:
        with self._connect() as conn:
            finish_job(conn, job_id, status, counts, error)

    def complete_run(self, run_id: uuid.UUID) -> bool:
        with self._connect() as conn:
            return complete_run_if_done(conn, run_id)


class PostgresRunStore:
    """What launching a run needs from the warehouse (market_data.runs.RunStore)."""

    def __init__(self, connect: ConnectionSource) -> None:
        self._connect = connect

    def tracked(self, *, active_only: bool) -> list[TrackedSymbol]:
        with self._connect() as conn:
            return list_symbols(conn, active_only=active_only)

    def series_stats(self) -> list[SeriesStats]:
        with self._connect() as conn:
            return list_series_stats(conn)

    def record_run(
        self, run_id: uuid.UUID, trigger: Trigger, jobs: Sequence[BackfillJob],
        *, pending: bool = False,
    ) -> None:  # fmt: skip
        with self._connect() as conn:
            record_run(conn, run_id, trigger, jobs, pending=pending)

    def record_pending_run(self, run_id: uuid.UUID, trigger: Trigger) -> None:
        with self._connect() as conn:
            record_pending_run(conn, run_id, trigger)

    def fail_planning(self, run_id: uuid.UUID, error: str) -> None:
        with self._connect() as conn:
            fail_planning(conn, run_id, error)

    def mark_enqueued(self, run_id: uuid.UUID, unsent: Sequence[uuid.UUID]) -> None:
        with self._connect() as conn:
            mark_enqueued(conn, run_id, unsent)

    def stuck_jobs(
        self, *, unsent_before: datetime, stuck_before: datetime, expired_before: datetime,
        orphaned_before: datetime | None, limit: int,
    ) -> list[StuckJob]:  # fmt: skip
        with self._connect() as conn:
            return stuck_jobs(
                conn, unsent_before=unsent_before, stuck_before=stuck_before,
                expired_before=expired_before, orphaned_before=orphaned_before, limit=limit,
            )  # fmt: skip

    def mark_resent(self, job_ids: Sequence[uuid.UUID]) -> None:
        with self._connect() as conn:
            mark_resent(conn, job_ids)

    def fail_unplanned_runs(self, before: datetime) -> list[uuid.UUID]:
        with self._connect() as conn:
            return fail_unplanned_runs(conn, before)

    def fail_jobs(self, failures: Sequence[tuple[uuid.UUID, str]]) -> None:
        with self._connect() as conn:
            fail_jobs(conn, failures)

    def complete_run(self, run_id: uuid.UUID) -> bool:
        with self._connect() as conn:
            return complete_run_if_done(conn, run_id)
