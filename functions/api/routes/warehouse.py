"""Warehouse status, symbol lists and operational metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from api.deps import DatabaseDep, SettingsDep
from api.queues import queue_summary
from market_data import warehouse
from market_data.repositories.runs import latest_run
from market_data.repositories.symbols import list_overviews, newest_bar_sources

router = APIRouter(prefix="/api/v1", tags=["warehouse"])


@router.get("/status", summary="What the warehouse holds and how the nightly run is doing")
def status(db: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    overviews = list_overviews(db.conn)
    run = latest_run(db.conn)
    now = datetime.now(UTC)
    scheduler = warehouse.scheduler_summary(run, now, enabled=settings.nightly_schedule_enabled)
    return {
        "api_version": "v1",
        "status": "operational",
        "timestamp": now,
        "database": warehouse.database_summary(overviews),
        "data_quality": {
            "records_with_gaps_flagged": warehouse.gap_records(overviews),
            "scheduler_status": scheduler["status"],
            "run_state": scheduler["run_state"],
            "next_run": scheduler["next_run"],
            "last_backfill": warehouse.last_backfill(run),
        },
        "provider": warehouse.data_provider(
            settings.market_data_provider, newest_bar_sources(db.conn)
        ),
    }


@router.get("/symbols", summary="Symbols with data")
def symbols(db: DatabaseDep) -> dict[str, Any]:
    overviews = list_overviews(db.conn)
    summary = warehouse.database_summary(overviews)
    return {
        "symbols_available": summary["symbols_available"],
        "latest_data": summary["latest_data"],
        "symbols": [o.tracked.symbol for o in overviews if o.records],
    }


@router.get("/symbols/detailed", summary="Every tracked symbol with records, freshness and health")
def symbols_detailed(db: DatabaseDep) -> dict[str, Any]:
    now = datetime.now(UTC)
    details = [warehouse.symbol_detail(o, now) for o in list_overviews(db.conn)]
    return {"count": len(details), "timestamp": now, "symbols": details}


@router.get("/metrics", summary="Scheduler, last backfill, database totals and health")
def metrics(db: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    overviews = list_overviews(db.conn)
    run = latest_run(db.conn)
    now = datetime.now(UTC)
    return {
        "timestamp": now,
        "scheduler": warehouse.scheduler_summary(
            run, now, enabled=settings.nightly_schedule_enabled
        ),
        "last_backfill": warehouse.last_backfill(run),
        "database": warehouse.database_summary(overviews),
        "health": {"api": "healthy", "database": "healthy"},
        # The backfill queue and its dead-letter queue (null when not configured).
        "queues": queue_summary(settings),
    }
