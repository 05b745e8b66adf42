"""The audit recorder's bound on refusals, and the one request context (no I/O)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from api.audit import AuditEntry, AuditRecorder, RequestContext, request_context
from market_data.keys.audit import AuditEvent, AuditPage


class BlockingLog:
    """An audit log whose writes wait until released, as a slow audit table would."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.written: list[tuple[AuditEvent, bool]] = []

    def record(self, event: AuditEvent, *, best_effort: bool = False) -> None:
        self.started.release()
        self.release.wait(timeout=10)
        self.written.append((event, best_effort))

    def page(self, key_id: str, *, limit: int, cursor: str | None = None) -> AuditPage:
        raise NotImplementedError


def entry(log: BlockingLog, n: int, *, refused: bool) -> AuditEntry:
    event = AuditEvent(
        key_id="unknown",
        at=datetime(2030, 1, 2, tzinfo=UTC),
        request_id=f"r{n}",
        action="list_api_keys",
        outcome=None,
        method="GET",
        path="/api/v1/admin/api-keys",
        detail="key malformed" if refused else None,
    )
    return AuditEntry(log, event, refused=refused)


def test_refusals_beyond_the_bound_are_dropped_and_counted_and_admin_calls_never_are() -> None:
    log = BlockingLog()
    recorder = AuditRecorder(refusals_in_flight=2)

    async def scenario() -> None:
        slow = [
            asyncio.create_task(recorder.finish(entry(log, n, refused=True), 401)) for n in (1, 2)
        ]
        for _ in slow:  # both refusals are being written
            await asyncio.to_thread(log.started.acquire)
        await recorder.finish(entry(log, 3, refused=True), 401)  # one too many: dropped at once
        assert recorder.counts.dropped == 1
        admin_call = asyncio.create_task(recorder.finish(entry(log, 4, refused=False), 200))
        await asyncio.to_thread(log.started.acquire)  # admin calls are not bounded
        log.release.set()
        await asyncio.gather(*slow, admin_call)
        await recorder.finish(entry(log, 5, refused=True), 403)  # room again

    asyncio.run(scenario())
    written = sorted((e.request_id, e.outcome, best_effort) for e, best_effort in log.written)
    assert written == [("r1", 401, True), ("r2", 401, True), ("r4", 200, False), ("r5", 403, True)]
    assert (recorder.counts.written, recorder.counts.dropped, recorder.counts.lost) == (4, 1, 0)


def test_a_failed_write_is_counted_as_lost_and_never_raised() -> None:
    class FailingLog(BlockingLog):
        def record(self, event: AuditEvent, *, best_effort: bool = False) -> None:
            raise RuntimeError("audit table gone")

    recorder = AuditRecorder(refusals_in_flight=1)
    asyncio.run(recorder.finish(entry(FailingLog(), 1, refused=False), 200))
    asyncio.run(recorder.finish(entry(FailingLog(), 2, refused=True), 401))
    assert (recorder.counts.written, recorder.counts.lost) == (0, 2)


def test_a_request_has_one_context_under_one_key_of_its_scope_state() -> None:
    scope: dict[str, Any] = {"type": "http"}
    context = request_context(scope)
    assert isinstance(context, RequestContext)
    assert request_context(scope) is context
    assert list(scope["state"].values()) == [context]


def test_a_flood_of_dropped_refusals_is_logged_once_per_hundred_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = AuditRecorder(refusals_in_flight=0)  # every refusal is one too many
    log = BlockingLog()

    async def flood() -> None:
        for n in range(250):
            await recorder.finish(entry(log, n, refused=True), 401)

    asyncio.run(flood())
    assert recorder.counts.dropped == 250 and log.written == []
    lines = [r.getMessage() for r in caplog.records if r.name == "api.audit"]
    assert len(lines) == 3  # the 1st, 100th and 200th
    assert lines[-1].endswith("0 lost, 200 dropped since start")
