"""The admin API through the client: keys (on emulated DynamoDB), symbols, backfills."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.repositories.symbols import add_symbols, list_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import (
    ApiKeyCreated,
    AuditEvent,
    AuthenticationError,
    BackfillFailedError,
    Client,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    WaitProgress,
    WaitTimeoutError,
)
from tests.client.conftest import Sleeps
from tests.helpers import seed_series, utc

# --- keys ------------------------------------------------------------------------------


def test_keys_are_created_listed_fetched_renamed_revoked_restored_and_deleted(
    admin_mdw: Client, keyed_client: TestClient
) -> None:
    keys = admin_mdw.admin.keys
    created = keys.create(
        "dashboards",
        scopes=["read"],
        expires_at=datetime(2031, 6, 1, 12, tzinfo=UTC),
        rate_limit_per_minute=30,
    )
    assert isinstance(created, ApiKeyCreated) and created.api_key.startswith("mdw_")
    assert created.api_key not in repr(created)  # the secret stays out of logs
    assert created.key_preview == f"mdw_…{created.api_key[-4:]}"
    assert (created.scopes, created.status) == (["read"], "active")
    assert created.rate_limit_per_minute == 30
    assert created.expires_at == datetime(2031, 6, 1, 12, tzinfo=UTC)

    reader = Client(http_client=keyed_client, api_key=created.api_key)
    assert reader.symbols().symbols == []
    assert reader.rate_limit is not None and reader.rate_limit.limit == 30
    with pytest.raises(PermissionDeniedError) as denied:
        reader.admin.keys.list()
    assert denied.value.status == 403 and "admin" in denied.value.detail

    listed = keys.list()
    assert created.id in [k.id for k in listed] and len(listed) == 2  # with the admin's own
    assert keys.get(created.id).name == "dashboards"
    assert keys.rename(created.id, "grafana").name == "grafana"
    revoked = keys.revoke(created.id)
    assert (revoked.active, revoked.status) == (False, "revoked") and revoked.revoked_at
    assert created.id not in [k.id for k in keys.list(active_only=True)]
    assert keys.restore(created.id).active is True
    assert keys.update(created.id, active=False, name="old").status == "revoked"

    keys.delete(created.id)
    with pytest.raises(NotFoundError, match=created.id):
        keys.get(created.id)


def test_a_keys_audit_trail_is_paged_to_the_end(admin_mdw: Client) -> None:
    keys = admin_mdw.admin.keys
    created = keys.create("audited")
    for name in ("a", "b", "c", "d", "e"):
        keys.rename(created.id, name)
    admin = next(k for k in keys.list() if k.name == "test admin")  # the acting key

    page = keys.audit_page(admin.id, limit=2)
    assert page.count == 2 and page.next_cursor and page.key_id == admin.id
    events = list(keys.audit(admin.id, page_size=2))
    whole = keys.audit_page(admin.id, limit=100)
    assert whole.next_cursor is None

    def not_reading_the_trail(found: list[AuditEvent]) -> list[AuditEvent]:
        return [e for e in found if e.action != "api_key_audit"]  # each read is audited too

    assert not_reading_the_trail(events) == not_reading_the_trail(whole.events)
    about_it = [e.action for e in events if e.target == created.id]
    assert about_it.count("update_api_key") == 5 and len(about_it) == 6
    assert events == sorted(events, key=lambda e: e.time, reverse=True)
    assert len(list(keys.audit(admin.id, page_size=2, max_events=3))) == 3


def test_refusals_and_conflicts_are_raised_with_their_problem(
    admin_mdw: Client, keyed_client: TestClient
) -> None:
    with pytest.raises(AuthenticationError) as missing:
        Client(http_client=keyed_client).admin.keys.list()
    assert missing.value.status == 401
    with pytest.raises(ValidationError) as invalid:
        admin_mdw.admin.keys.create("", scopes=["root"])
    assert {e.field for e in invalid.value.errors} == {"name", "scopes.0"}
    own = next(k for k in admin_mdw.admin.keys.list() if k.name == "test admin")
    with pytest.raises(ConflictError):
        admin_mdw.admin.keys.revoke(own.id)


# --- tracked symbols -------------------------------------------------------------------


def test_symbols_are_tracked_listed_updated_and_deactivated(
    admin_mdw: Client, conn: Connection[Any]
) -> None:
    symbols = admin_mdw.admin.symbols
    orcl = symbols.create("orcl", "stock", name="Oracle", timeframes=["1h", "1d"])
    assert (orcl.symbol, orcl.asset_class, orcl.name) == ("ORCL", "stock", "Oracle")
    assert orcl.timeframes == ["1h", "1d"] and orcl.active and orcl.stats is None
    assert symbols.create("BTCUSD", "crypto").symbol == "BTC-USD"
    with pytest.raises(ConflictError, match="already tracked"):
        symbols.create("ORCL", "stock")
    with pytest.raises(ValidationError, match="crypto"):
        symbols.create("AAPL", "crypto")

    assert [s.symbol for s in symbols.list()] == ["BTC-USD", "ORCL"]
    seed_series(conn, "ORCL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    fetched = symbols.get("ORCL")
    assert fetched.stats is not None and fetched.stats.records == 21
    assert [(s.timeframe, s.records) for s in fetched.stats.series] == [("1d", 21)]
    with_stats = symbols.list(include_stats=True)
    assert all(s.stats is not None for s in with_stats)

    assert symbols.update("ORCL", name="Oracle Corp.").name == "Oracle Corp."
    assert symbols.update("ORCL", name=None).name is None  # null clears the name
    assert symbols.set_timeframes("ORCL", ["1w", "1d", "1d"]).timeframes == ["1d", "1w"]
    deactivated = symbols.deactivate("ORCL")
    assert deactivated.active is False
    assert [s.symbol for s in symbols.list(active_only=True)] == ["BTC-USD"]
    assert symbols.update("ORCL", active=True).active is True
    assert [s.symbol for s in list_symbols(conn, active_only=True)] == ["BTC-USD", "ORCL"]
    with pytest.raises(NotFoundError):
        symbols.get("NOPE")


# --- backfills -------------------------------------------------------------------------


def test_a_backfill_is_started_followed_and_waited_for(
    admin_mdw: Client, conn: Connection[Any], drain: Any, sleeps: Sleeps
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])
    backfills = admin_mdw.admin.backfills
    accepted = backfills.start(
        ["AAPL", "btcusd"], timeframes=["1d"], start="2024-03-04", end="2024-03-08"
    )
    assert accepted.jobs_total == 2 and accepted.status == "queued"
    assert {(j.symbol, j.timeframe) for j in accepted.jobs} == {("AAPL", "1d"), ("BTC-USD", "1d")}
    assert accepted.not_enqueued == []
    assert backfills.job(accepted.job_ids[0]).status == "queued"

    sleeps.hook = lambda seconds: drain()  # the worker runs while the client waits
    progress: list[WaitProgress] = []
    jobs = backfills.wait(accepted, poll_interval=3, on_progress=progress.append)

    assert sleeps == [3]
    assert [j.job_id for j in jobs] == accepted.job_ids
    assert all(j.done and j.status == "succeeded" for j in jobs)
    assert sum(j.bars_upserted for j in jobs) == 10  # 5 sessions, 5 crypto days
    assert [(p.done, p.total) for p in progress] == [(0, 2), (2, 2)]
    assert progress[-1].bars_upserted == 10 and progress[-1].failed == 0
    assert admin_mdw.status().database.total_records == 10
    last = admin_mdw.metrics().last_backfill
    assert last is not None and last.run_id == accepted.run_id and last.trigger == "admin"


def test_waiting_gives_up_after_the_timeout(
    admin_mdw: Client, conn: Connection[Any], queued_app: None
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK)])
    accepted = admin_mdw.admin.backfills.start(["AAPL"], timeframes=["1d"], start="2024-03-04")
    with pytest.raises(WaitTimeoutError) as caught:
        admin_mdw.admin.backfills.wait(accepted, timeout=0)
    assert caught.value.pending == accepted.job_ids


def test_a_failed_job_raises_after_every_job_is_done(
    admin_mdw: Client, conn: Connection[Any], drain: Any, sleeps: Sleeps
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK)])
    accepted = admin_mdw.admin.backfills.start(["AAPL"], timeframes=["1d"], start="2024-03-04")
    conn.execute(
        "UPDATE backfill_jobs SET status = 'failed', error = 'vendor said no', "
        "finished_at = now() WHERE id = %s",
        (accepted.job_ids[0],),
    )
    with pytest.raises(BackfillFailedError, match="vendor said no") as caught:
        admin_mdw.admin.backfills.wait(accepted)
    assert [j.status for j in caught.value.jobs] == ["failed"]
    statuses = admin_mdw.admin.backfills.wait(accepted, raise_on_failure=False)
    assert statuses[0].error == "vendor said no"


def test_backfill_refusals_name_the_problem(admin_mdw: Client, queued_app: None) -> None:
    with pytest.raises(ValidationError) as unknown:
        admin_mdw.admin.backfills.start(["NOPE"])
    assert unknown.value.extensions["symbols"] == ["NOPE"]
    assert unknown.value.slug == "unknown-symbols"
    with pytest.raises(NotFoundError):
        admin_mdw.admin.backfills.job("7d1c0f5e-0000-4000-8000-000000000000")


def test_a_whole_universe_backfill_is_followed_by_its_run(
    admin_mdw: Client, conn: Connection[Any], drain: Any, sleeps: Sleeps
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)], [Timeframe.D1])
    backfills = admin_mdw.admin.backfills
    accepted = backfills.start(timeframes=["1d"], start="2024-03-04", end="2024-03-08")
    assert accepted.status == "planning" and accepted.job_ids == [] and accepted.jobs_total == 0
    assert accepted.run_url.endswith(f"/api/v1/admin/backfill/runs/{accepted.run_id}")

    def plan_then_work(seconds: float) -> None:
        # The server plans in the background; the worker runs once the jobs exist.
        for _ in range(100):
            if backfills.run_status(accepted.run_id).status != "planning":
                break
            time.sleep(0.05)
        drain()

    sleeps.hook = plan_then_work
    assert backfills.wait(accepted, poll_interval=1) == []
    run = backfills.run_status(accepted.run_id)
    assert (run.status, run.jobs_total, run.succeeded, run.failed) == ("finished", 2, 2, 0)
    assert run.bars_upserted == 10 and run.done
