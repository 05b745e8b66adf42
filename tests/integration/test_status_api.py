from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from api.app import create_app
from market_data import db
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc


@pytest.fixture
def warehouse(conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 3, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 1, 8))
    conn.execute(
        "UPDATE bars SET validated = false WHERE symbol = 'BTC-USD' AND time < '2024-01-02'"
    )
    conn.execute("INSERT INTO symbols (symbol, asset_class) VALUES ('MSFT', 'stock')")
    # Statistics follow the write path; this test edited bars by hand, so refresh them.
    conn.execute(
        "UPDATE series_stats s SET validated_records = "
        "(SELECT count(*) FROM bars b"
        " WHERE b.symbol = s.symbol AND b.timeframe = s.timeframe AND validated)"
    )


def test_root_lists_links(client: TestClient) -> None:
    body = client.get("/").json()
    assert body["name"] == "Market Data Warehouse API"
    assert body["links"]["docs"] == "/docs"


def test_status_totals_match_the_bars_table(
    client: TestClient, conn: Connection[Any], warehouse: None
) -> None:
    body = client.get("/api/v1/status").json()
    total, validated = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE validated) FROM bars"
    ).fetchone()  # type: ignore[misc]
    database = body["database"]
    assert database["total_records"] == total
    assert database["validated_records"] == validated
    assert database["symbols_available"] == 2
    assert database["validation_rate_pct"] == round(100 * validated / total, 2)
    assert body["data_quality"]["scheduler_status"] == "running"  # the schedule is enabled
    assert body["data_quality"]["run_state"] == "idle"
    provider = {"configured": "synthetic", "sources": ["synthetic"], "synthetic": True}
    assert body["provider"] == provider


def test_symbols_and_detailed_health(client: TestClient, warehouse: None) -> None:
    assert client.get("/api/v1/symbols").json()["symbols"] == ["AAPL", "BTC-USD"]
    detailed = {s["symbol"]: s for s in client.get("/api/v1/symbols/detailed").json()["symbols"]}
    assert set(detailed) == {"AAPL", "BTC-USD", "MSFT"}
    assert detailed["MSFT"]["status"] == "stale" and detailed["MSFT"]["records"] == 0
    assert detailed["BTC-USD"]["validation_rate"] < 95  # 24 of 168 hourly bars unvalidated
    assert detailed["AAPL"]["timeframes"] == ["5m", "15m", "30m", "1h", "4h", "1d", "1w"]


def test_metrics_shape(client: TestClient, warehouse: None) -> None:
    body = client.get("/api/v1/metrics").json()
    assert body["scheduler"]["schedule"] == "02:00 UTC daily"
    assert body["last_backfill"] is None
    assert body["database"]["symbols_available"] == 2


def test_database_down_is_a_503_with_retry_after(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:9/none", "db_connect_timeout_s": 1}
    )
    db.close_pool()
    try:
        with TestClient(create_app(unreachable), raise_server_exceptions=False) as down:
            from api.deps import current_settings

            down.app.dependency_overrides[current_settings] = lambda: unreachable  # type: ignore[attr-defined]
            response = down.get("/api/v1/status")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.headers["content-type"] == "application/problem+json"
            assert "unavailable" in response.json()["detail"]
    finally:
        db.close_pool()
    with psycopg.connect(str(settings.database_url)) as ok:
        ok.execute("SELECT 1")
