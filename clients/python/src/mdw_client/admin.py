"""The admin API (an API key with the admin scope): keys, tracked symbols, backfills.

client = Client(api_key="mdw_...")
key = client.admin.keys.create("dashboards", scopes=["read"])
client.admin.symbols.create("ORCL", "stock")
accepted = client.admin.backfills.start(["ORCL"], timeframes=["1d"], start="2024-01-01")
jobs = client.admin.backfills.wait(accepted)
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mdw_client import _endpoints as ep
from mdw_client._decode import decode
from mdw_client._ranges import TimeLike, format_instant, to_param
from mdw_client._transport import OMIT, Transport
from mdw_client.errors import BackfillFailedError, WaitTimeoutError
from mdw_client.models import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    AuditEvent,
    AuditPage,
    BackfillAccepted,
    JobStatus,
    JobSummary,
    RunStatus,
    TrackedSymbol,
    TrackedSymbolList,
)


class ApiKeys:
    """`/api/v1/admin/api-keys`: issue, list, rename, revoke/restore, delete, audit."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self,
        name: str,
        *,
        scopes: Sequence[str] = ("read",),
        expires_at: datetime | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> ApiKeyCreated:
        """Issue a key. Its secret is `.api_key` of the answer, shown this once only."""
        body = {
            "name": name,
            "scopes": list(scopes),
            "expires_at": OMIT if expires_at is None else format_instant(expires_at),
            "rate_limit_per_minute": OMIT
            if rate_limit_per_minute is None
            else rate_limit_per_minute,
        }
        return decode(ApiKeyCreated, self._t.send(ep.KEY_CREATE, body=body).json())

    def list(self, *, active_only: bool = False) -> builtins.list[ApiKey]:
        """Every key, newest first, without secrets."""
        response = self._t.send(ep.KEY_LIST, params={"active_only": active_only or None})
        return decode(ApiKeyList, response.json()).api_keys

    def get(self, key_id: str) -> ApiKey:
        return decode(ApiKey, self._t.send(ep.KEY_GET, path={"key_id": key_id}).json())

    def update(self, key_id: str, *, active: bool | None = None, name: str | None = None) -> ApiKey:
        """Rename (`name`), revoke (`active=False`) or restore (`active=True`) a key."""
        body = {
            "active": OMIT if active is None else active,
            "name": OMIT if name is None else name,
        }
        response = self._t.send(ep.KEY_UPDATE, path={"key_id": key_id}, body=body)
        return decode(ApiKey, response.json())

    def revoke(self, key_id: str) -> ApiKey:
        """Stop a key working (within the server's key-cache TTL, 30 s by default)."""
        return self.update(key_id, active=False)

    def restore(self, key_id: str) -> ApiKey:
        return self.update(key_id, active=True)

    def rename(self, key_id: str, name: str) -> ApiKey:
        return self.update(key_id, name=name)

    def delete(self, key_id: str) -> None:
        """Delete a key for good (its audit trail is kept until it expires)."""
        self._t.send(ep.KEY_DELETE, path={"key_id": key_id})

    def audit_page(
        self, key_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> AuditPage:
        """One page of a key's audit trail, newest first (`unknown` for unidentified keys)."""
        response = self._t.send(
            ep.KEY_AUDIT, path={"key_id": key_id}, params={"limit": limit, "cursor": cursor}
        )
        return decode(AuditPage, response.json())

    def audit(
        self, key_id: str, *, page_size: int | None = None, max_events: int | None = None
    ) -> Iterator[AuditEvent]:
        """Every audit event of a key, newest first, page after page (at most `max_events`)."""
        cursor: str | None = None
        seen = 0
        while True:
            page = self.audit_page(key_id, limit=page_size, cursor=cursor)
            for event in page.events:
                if max_events is not None and seen >= max_events:
                    return
                seen += 1
                yield event
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class TrackedSymbols:
    """`/api/v1/admin/symbols`: the universe the nightly backfill fetches."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(
        self,
        symbol: str,
        asset_class: str,
        *,
        name: str | None = None,
        timeframes: Sequence[str] | None = None,
    ) -> TrackedSymbol:
        """Track a symbol (`stock`, `etf`, `crypto` or `index`); `ConflictError` if tracked."""
        body = {
            "symbol": symbol,
            "asset_class": asset_class,
            "name": OMIT if name is None else name,
            "timeframes": OMIT if timeframes is None else builtins.list(timeframes),
        }
        return decode(TrackedSymbol, self._t.send(ep.SYMBOL_CREATE, body=body).json())

    def list(
        self, *, active_only: bool = False, include_stats: bool = False
    ) -> builtins.list[TrackedSymbol]:
        params = {"active_only": active_only or None, "include_stats": include_stats or None}
        return decode(TrackedSymbolList, self._t.send(ep.SYMBOL_LIST, params=params).json()).symbols

    def get(self, symbol: str) -> TrackedSymbol:
        """One tracked symbol with its statistics per series."""
        response = self._t.send(ep.SYMBOL_GET, path={"symbol": symbol})
        return decode(TrackedSymbol, response.json())

    def update(self, symbol: str, *, active: Any = OMIT, name: Any = OMIT) -> TrackedSymbol:
        """Activate or deactivate (`active`), rename (`name`; `name=None` clears it)."""
        response = self._t.send(
            ep.SYMBOL_UPDATE, path={"symbol": symbol}, body={"active": active, "name": name}
        )
        return decode(TrackedSymbol, response.json())

    def set_timeframes(self, symbol: str, timeframes: Sequence[str]) -> TrackedSymbol:
        """Replace the timeframes the backfill fetches for a symbol."""
        response = self._t.send(
            ep.SYMBOL_TIMEFRAMES,
            path={"symbol": symbol},
            body={"timeframes": builtins.list(timeframes)},
        )
        return decode(TrackedSymbol, response.json())

    def deactivate(self, symbol: str) -> TrackedSymbol:
        """No more backfills for the symbol; its bars are kept."""
        response = self._t.send(ep.SYMBOL_DEACTIVATE, path={"symbol": symbol})
        return decode(TrackedSymbol, response.json())


@dataclass(frozen=True, slots=True)
class WaitProgress:
    """What `Backfills.wait(on_progress=...)` hears after each poll."""

    done: int
    total: int
    succeeded: int
    failed: int
    bars_upserted: int
    latest: JobStatus | None  # the last status read


JobRef = str | JobSummary | JobStatus


class Backfills:
    """`/api/v1/admin/backfill`: on-demand backfills through the nightly run's queue."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def start(
        self,
        symbols: Iterable[str] | None = None,
        *,
        timeframes: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> BackfillAccepted:
        """Queue a backfill. Defaults: every active symbol, each symbol's own timeframes,
        from a couple of bars before the last stored one, up to now."""
        body = {
            "symbols": OMIT if symbols is None else builtins.list(symbols),
            "timeframes": OMIT if timeframes is None else builtins.list(timeframes),
            "start": to_param(start) or OMIT,
            "end": to_param(end) or OMIT,
        }
        return decode(BackfillAccepted, self._t.send(ep.BACKFILL_START, body=body).json())

    def job(self, job_id: str) -> JobStatus:
        """One job's status, attempts, bars written and last error."""
        return decode(JobStatus, self._t.send(ep.BACKFILL_JOB, path={"job_id": job_id}).json())

    def run_status(self, run_id: str) -> RunStatus:
        """One run: planning, running or finished, and its jobs counted by status
        (how a whole-universe backfill, answered with `status: planning`, is followed)."""
        return decode(RunStatus, self._t.send(ep.BACKFILL_RUN, path={"run_id": run_id}).json())

    def wait(
        self,
        jobs: BackfillAccepted | Iterable[JobRef],
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        on_progress: Callable[[WaitProgress], None] | None = None,
        raise_on_failure: bool = True,
    ) -> builtins.list[JobStatus]:
        """Poll until every job has succeeded or failed; their final statuses, in order.

        Each poll reads jobs in order until it meets one still at work, so waiting
        on thousands of jobs costs about one request per poll plus one per job.
        Raises `BackfillFailedError` (after all are done) when a job failed, unless
        `raise_on_failure=False`, and `WaitTimeoutError` after `timeout` seconds.
        """
        if isinstance(jobs, BackfillAccepted) and jobs.status == "planning":
            # The whole universe: the server plans the jobs after answering, so the
            # run is followed instead (no per-job statuses to return).
            self._wait_for_run(jobs.run_id, poll_interval, timeout)
            return []
        ids = _job_ids(jobs)
        final: dict[str, JobStatus] = {}
        pending = builtins.list(ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            latest = None
            while pending:
                latest = self.job(pending[0])
                if not latest.done:
                    break
                final[pending.pop(0)] = latest
            if on_progress is not None:
                on_progress(_progress(ids, final, latest))
            if not pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"{len(pending)} of {len(ids)} backfill jobs still at work after {timeout} s",
                    pending=pending,
                )
            self._t.sleep(poll_interval)
        statuses = [final[i] for i in ids]
        failed = [s for s in statuses if s.status == "failed"]
        if failed and raise_on_failure:
            raise BackfillFailedError(failed, statuses)
        return statuses

    def _wait_for_run(self, run_id: str, poll_interval: float, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.run_status(run_id).done:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"backfill run {run_id} still at work after {timeout} s", pending=[]
                )
            self._t.sleep(poll_interval)

    def run(
        self,
        symbols: Iterable[str] | None = None,
        *,
        timeframes: Sequence[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        on_progress: Callable[[WaitProgress], None] | None = None,
    ) -> builtins.list[JobStatus]:
        """`start()` then `wait()`."""
        accepted = self.start(symbols, timeframes=timeframes, start=start, end=end)
        return self.wait(
            accepted, poll_interval=poll_interval, timeout=timeout, on_progress=on_progress
        )


def _job_ids(jobs: BackfillAccepted | Iterable[JobRef]) -> builtins.list[str]:
    if isinstance(jobs, BackfillAccepted):
        return builtins.list(jobs.job_ids)
    return [j if isinstance(j, str) else j.job_id for j in jobs]


def _progress(
    ids: Sequence[str], final: dict[str, JobStatus], latest: JobStatus | None
) -> WaitProgress:
    done = builtins.list(final.values())
    return WaitProgress(
        done=len(done),
        total=len(ids),
        succeeded=sum(s.status == "succeeded" for s in done),
        failed=sum(s.status == "failed" for s in done),
        bars_upserted=sum(s.bars_upserted for s in done),
        latest=latest,
    )


class Admin:
    """The admin API: `keys`, `symbols` (tracked universe) and `backfills`."""

    def __init__(self, transport: Transport) -> None:
        self.keys = ApiKeys(transport)
        self.symbols = TrackedSymbols(transport)
        self.backfills = Backfills(transport)
