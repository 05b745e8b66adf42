"""One source per series: switching the provider replaces the other provider's bars.

A warehouse filled by the synthetic provider, then configured for Polygon (the
fake vendor on loopback): the next incremental run plans each series' full
history again (not from the last synthetic bar), its first write removes the
synthetic bars, and afterwards every bar is the vendor's, the totals equal a
count, and the status endpoint names the provider per series.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.repositories.bars import series_stats_drift
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.fake_polygon import FakePolygon, Reply, bar, page
from tests.pipeline import deliver, launch

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
SYNTHETIC_DAYS, VENDOR_DAYS = 20, 40


def _drain(handler: Any, queue_url: str) -> None:
    for _ in range(20):
        deliver(handler, queue_url)
    # Every job done: nothing left for another poll.
    assert deliver(handler, queue_url) == []


def test_switching_to_the_vendor_replaces_synthetic_bars_with_its_full_history(
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    handlers: Any,
    fake_polygon: FakePolygon,
    key_services: Any,
) -> None:
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    synthetic = pipeline_settings.model_copy(
        update={"market_data_provider": "synthetic", "initial_history_days_daily": SYNTHETIC_DAYS}
    )
    handlers.use(synthetic)
    launch(synthetic, now=NOW)
    _drain(handlers.backfill, str(synthetic.backfill_queue_url))
    synthetic_bars = pipeline_conn.execute(
        "SELECT count(*) FROM bars WHERE source = 'synthetic'"
    ).fetchone()
    assert synthetic_bars and synthetic_bars[0] > 10

    # The vendor's daily bars, one per weekday of its longer initial history.
    days = [NOW - timedelta(days=d) for d in range(VENDOR_DAYS, 0, -1)]
    vendor = [bar(d.replace(hour=4, minute=0), 100, 101, 99, 100.5) for d in days]
    vendor = [b for b, d in zip(vendor, days, strict=True) if d.weekday() < 5]
    fake_polygon.script("AAPL", Reply(body=page(vendor)))
    polygon = fake_polygon.settings(pipeline_settings, initial_history_days_daily=VENDOR_DAYS)
    handlers.use(polygon)
    switched = launch(polygon, now=NOW)

    # Planned as a new series: from the vendor's initial history, not the last synthetic bar.
    assert [(j.symbol, j.timeframe) for j in switched.jobs] == [("AAPL", Timeframe.D1)]
    assert switched.jobs[0].start <= NOW - timedelta(days=VENDOR_DAYS - 1)
    _drain(handlers.backfill, str(polygon.backfill_queue_url))
    start_ms = switched.jobs[0].start.timestamp() * 1000
    vendor = [b for b in vendor if b["t"] >= start_ms]  # what the planned range asks for

    sources = pipeline_conn.execute(
        "SELECT source, count(*) FROM bars WHERE symbol = 'AAPL' GROUP BY source"
    ).fetchall()
    assert sources == [("polygon", len(vendor))]  # no synthetic bar left beside them
    stats = pipeline_conn.execute(
        "SELECT records, source FROM series_stats WHERE symbol = 'AAPL' AND timeframe = '1d'"
    ).fetchone()
    assert stats == (len(vendor), "polygon")
    assert series_stats_drift(pipeline_conn) == []

    from api.app import create_app
    from api.auth import get_key_services

    app = create_app(polygon)
    app.dependency_overrides[get_key_services] = lambda: key_services
    with TestClient(app) as client:
        detailed = client.get("/api/v1/symbols/detailed").json()
    (aapl,) = [s for s in detailed["symbols"] if s["symbol"] == "AAPL"]
    assert aapl["providers"] == {"1d": "polygon"}
