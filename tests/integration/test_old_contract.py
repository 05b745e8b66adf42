"""The replaced system's black-box suite, as its calls are documented: every public and admin
endpoint of the old contract answers with the fields and statuses its clients read.

Shapes only, deliberately: what each value means is tested where it is computed.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.keys.models import Scope
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}
BAR_FIELDS = {
    "symbol", "timeframe", "time", "open", "high", "low", "close", "volume", "vwap", "trades",
    "source", "validated", "quality_score", "validation_notes", "gap_detected",
    "volume_anomaly", "fetched_at",
}  # fmt: skip
DATABASE_FIELDS = {
    "symbols_available", "latest_data", "total_records", "validated_records",
    "validation_rate_pct",
}  # fmt: skip


@pytest.fixture
def warehouse(conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 3, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 1, 5))


def test_public_endpoints_answer_with_the_old_fields(client: TestClient, warehouse: None) -> None:
    root = client.get("/").json()
    assert {"name", "version", "links"} <= set(root)
    assert {"docs", "dashboard"} <= set(root["links"])

    health = client.get("/health").json()
    assert health["status"] in {"healthy", "degraded"} and "timestamp" in health
    assert isinstance(health["scheduler_running"], bool)

    status = client.get("/api/v1/status").json()
    assert {"api_version", "status", "database", "data_quality"} <= set(status)
    assert set(status["database"]) >= DATABASE_FIELDS
    assert {"records_with_gaps_flagged", "scheduler_status", "last_backfill"} <= set(
        status["data_quality"]
    )
    assert status["data_quality"]["scheduler_status"] in {"running", "stopped"}

    symbols = client.get("/api/v1/symbols").json()
    assert {"symbols_available", "latest_data", "symbols"} <= set(symbols)
    assert symbols["symbols"] == ["AAPL", "BTC-USD"]

    detailed = client.get("/api/v1/symbols/detailed").json()
    assert {"count", "timestamp", "symbols"} <= set(detailed)
    for item in detailed["symbols"]:
        assert {"symbol", "asset_class", "records", "validation_rate", "latest_data",
                "data_age_hours", "timeframes", "status"} <= set(item)  # fmt: skip
        assert item["status"] in {"healthy", "warning", "stale"}
        assert 0 <= item["validation_rate"] <= 100

    metrics = client.get("/api/v1/metrics").json()
    assert {"timestamp", "scheduler", "last_backfill", "database", "health"} <= set(metrics)
    assert metrics["scheduler"]["schedule"] == "02:00 UTC daily"
    assert isinstance(metrics["scheduler"]["running"], bool)
    assert set(metrics["database"]) >= DATABASE_FIELDS
    assert {"api", "database"} <= set(metrics["health"])


def test_the_historical_endpoint_answers_with_the_old_page_and_rows(
    client: TestClient, warehouse: None
) -> None:
    page = client.get(
        "/api/v1/historical/AAPL", params={"start": "2024-01-01", "end": "2024-01-31"}
    ).json()
    assert {"symbol", "timeframe", "start_date", "end_date", "count", "has_more", "data",
            "next_cursor"} <= set(page)  # fmt: skip
    assert (page["start_date"], page["end_date"]) == ("2024-01-01", "2024-01-31")
    assert page["count"] == len(page["data"]) == 21
    assert all(set(row) >= BAR_FIELDS for row in page["data"])
    hourly = client.get(
        "/api/v1/historical/BTCUSD",
        params={"timeframe": "1h", "start": "2024-01-01", "end": "2024-01-02",
                "validated_only": "false", "min_quality": "0"},
    ).json()  # fmt: skip
    assert hourly["symbol"] == "BTC-USD" and hourly["count"] == 48


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"timeframe": "7x"}, 422),
        ({"start": "2024-02-01", "end": "2024-01-01"}, 422),
        ({"start": "not-a-date"}, 422),
        ({"start": "2030-01-01", "end": "2030-01-31"}, 404),
    ],
)
def test_bad_requests_are_problems_never_500s(
    client: TestClient, warehouse: None, params: dict[str, str], status: int
) -> None:
    response = client.get("/api/v1/historical/AAPL", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.json()) >= PROBLEM_FIELDS
    assert client.get("/api/v1/historical/NOPE").status_code == 404


def test_admin_endpoints_answer_as_the_old_contract_says(
    keyed_client: TestClient, key_services: Any, admin_key: str, warehouse: None
) -> None:
    admin = {"X-API-Key": admin_key}
    assert keyed_client.get("/api/v1/admin/api-keys").status_code == 401
    reader = key_services.admin.create(name="reader", scopes=[Scope.READ], created_by="tests")
    forbidden = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": reader.api_key})
    assert forbidden.status_code == 403

    created = keyed_client.post("/api/v1/admin/api-keys", json={"name": "ops"}, headers=admin)
    assert created.status_code == 201
    key = created.json()
    assert {"id", "name", "api_key", "key_preview", "scopes", "created_at", "expires_at"} <= set(
        key
    )
    listed = keyed_client.get("/api/v1/admin/api-keys?active_only=true", headers=admin).json()
    assert key["id"] in {k["id"] for k in listed["api_keys"]}
    assert "api_key" not in listed["api_keys"][0]
    revoked = keyed_client.put(
        f"/api/v1/admin/api-keys/{key['id']}", json={"active": False}, headers=admin
    )
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    audit = keyed_client.get(
        f"/api/v1/admin/api-keys/{key['id']}/audit?limit=10&offset=0", headers=admin
    )
    assert audit.status_code == 200 and "events" in audit.json()
    assert keyed_client.delete(
        f"/api/v1/admin/api-keys/{key['id']}", headers=admin
    ).status_code in {
        200,
        204,
    }

    symbols = "/api/v1/admin/symbols"
    tracked = keyed_client.post(
        symbols,
        json={"symbol": "ORCL", "asset_class": "stock", "timeframes": ["1d"]},
        headers=admin,
    )
    assert tracked.status_code == 201
    listing = keyed_client.get(f"{symbols}?active_only=true&include_stats=true", headers=admin)
    assert "ORCL" in {s["symbol"] for s in listing.json()["symbols"]}
    one = keyed_client.get(f"{symbols}/ORCL", headers=admin).json()
    assert one["symbol"] == "ORCL" and one["asset_class"] == "stock"
    renamed = keyed_client.put(f"{symbols}/ORCL", json={"name": "Oracle"}, headers=admin)
    assert renamed.json()["name"] == "Oracle"
    timeframes = keyed_client.put(
        f"{symbols}/ORCL/timeframes", json={"timeframes": ["1d", "1h"]}, headers=admin
    )
    assert timeframes.json()["timeframes"] == ["1h", "1d"]
    deactivated = keyed_client.delete(f"{symbols}/ORCL", headers=admin)
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
