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


def scheduler_summary(run: RunSummary | None, now: datetime, *, enabled: bool) -> dict[str, Any]:
    """The nightly schedule in the replaced system's words, and our richer state beside it.

    `status` and `running` keep the old meaning: "running" (true) while the nightly
    schedule is enabled, "stopped" (false) when it is not; old dashboards raise an
    alert on anything else. Whether a run is under way right now is `run_state`.
    """
    return {
        "schedule": "02:00 UTC daily",
        "enabled": enabled,
        "running": enabled,
        "status": "running" if enabled else "stopped",
        "run_state": "running" if run is not None and run.running else "idle",
        "next_run": next_nightly_run(now) if enabled else None,
    }


def data_provider(configured: str, sources: list[str]) -> dict[str, Any]:
    """Where the bars came from: the provider new bars are fetched from, the sources of
    each series' newest bar, and whether what is shown is synthetic (demo) data."""
    synthetic = "synthetic" in sources or (not sources and configured == "synthetic")
    return {"configured": configured, "sources": sources, "synthetic": synthetic}


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
        # Where each stored series' bars came from: one provider per series.
        "providers": {s.timeframe.value: s.source for s in overview.series},
        "status": health.status.value,
    }
