"""Warehouse-wide summaries for the status, symbols and metrics endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from market_data.health import next_nightly_run, percentage, symbol_health
from market_data.models import SymbolOverview
from market_data.repositories.runs import RunSummary


def database_summary(overviews: list[SymbolOverview]) -> dict[str, Any]:
    with_data = [o for o in overviews if o.records]
    total = sum(o.records for o in overviews)
    validated = sum(o.validated_records for o in overviews)
    latest = max((o.latest_data for o in with_data if o.latest_data), default=None)
    return {
        "symbols_available": len(with_data),
        "latest_data": latest,
        "total_records": total,
        "validated_records": validated,
        "validation_rate_pct": percentage(validated, total),
    }


def gap_records(overviews: list[SymbolOverview]) -> int:
    return sum(s.gap_records for o in overviews for s in o.series)


def scheduler_summary(run: RunSummary | None, now: datetime) -> dict[str, Any]:
    running = run is not None and run.running
    return {
        "schedule": "02:00 UTC daily",
        "status": "running" if running else "scheduled",
        "next_run": next_nightly_run(now),
    }


def last_backfill(run: RunSummary | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.id,
        "trigger": run.trigger,
        "time": run.started_at,
        "finished_at": None if run.running else run.finished_at,
        "status": "running" if run.running else ("failed" if run.jobs_failed else "succeeded"),
        "jobs_total": run.jobs_total,
        "jobs_failed": run.jobs_failed,
        "successful_symbols": run.symbols_succeeded,
        "failed_symbols": run.symbols_failed,
        "total_records_imported": run.bars_upserted,
    }


def symbol_detail(overview: SymbolOverview, now: datetime) -> dict[str, Any]:
    tracked = overview.tracked
    rate = percentage(overview.validated_records, overview.records)
    health = symbol_health(tracked.asset_class, overview.latest_data, rate, now)
    return {
        "symbol": tracked.symbol,
        "asset_class": tracked.asset_class.value,
        "name": tracked.name,
        "records": overview.records,
        "validation_rate": rate if rate is not None else 0.0,
        "latest_data": overview.latest_data,
        "data_age_hours": health.data_age_hours,
        "market_age_hours": health.market_age_hours,
        "timeframes": [t.value for t in tracked.timeframes],
        "status": health.status.value,
    }
