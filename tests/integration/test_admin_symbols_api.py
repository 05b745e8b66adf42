"""Admin API for the tracked symbol universe (PostgreSQL), with an admin key in moto."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.repositories.symbols import list_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

SYMBOLS = "/api/v1/admin/symbols"
DEFAULT_TIMEFRAMES = ["5m", "15m", "30m", "1h", "4h", "1d", "1w"]


@pytest.fixture
def admin(admin_key: str) -> dict[str, str]:
    return {"X-API-Key": admin_key}


def test_tracking_a_stock_with_the_default_timeframes(
    keyed_client: TestClient, admin: dict[str, str], conn: Connection[Any]
) -> None:
    response = keyed_client.post(
        SYMBOLS, json={"symbol": " aapl ", "asset_class": "stock", "name": "Apple"}, headers=admin
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["symbol"], body["asset_class"], body["name"]) == ("AAPL", "stock", "Apple")
    assert body["active"] is True and body["timeframes"] == DEFAULT_TIMEFRAMES
    assert [s.symbol for s in list_symbols(conn)] == ["AAPL"]  # the backfill will fetch it


@pytest.mark.parametrize(
    ("given", "asset_class", "canonical"),
    [
        ("BTCUSD", "crypto", "BTC-USD"),
        ("X:BTCUSD", "crypto", "BTC-USD"),
        ("eth-usd", "crypto", "ETH-USD"),
        ("I:VIX", "index", "VIX"),
        ("BRK.B", "stock", "BRK.B"),
        ("spy", "etf", "SPY"),
    ],
)
def test_symbols_are_stored_in_the_canonical_form_the_backfill_uses(
    keyed_client: TestClient, admin: dict[str, str], given: str, asset_class: str, canonical: str
) -> None:
    response = keyed_client.post(
        SYMBOLS, json={"symbol": given, "asset_class": asset_class}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["symbol"] == canonical


@pytest.mark.parametrize(
    ("symbol", "asset_class", "complaint"),
    [
        ("BTC-USD", "stock", "asset_class must be crypto"),
        ("X:ETHUSD", "etf", "asset_class must be crypto"),
        ("AAPL", "crypto", "crypto symbols are USD pairs"),
        ("BTC", "crypto", "crypto symbols are USD pairs"),
        ("AAPL; DROP TABLE symbols", "stock", "symbol"),
        ("", "stock", "symbol"),
        ("TOOLONGTICKERNAME", "stock", "symbol"),
    ],
)
def test_bad_or_inconsistent_symbols_are_422(
    keyed_client: TestClient, admin: dict[str, str], symbol: str, asset_class: str, complaint: str
) -> None:
    response = keyed_client.post(
        SYMBOLS, json={"symbol": symbol, "asset_class": asset_class}, headers=admin
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert complaint in response.json()["detail"]


def test_tracking_a_tracked_symbol_again_is_409_even_when_inactive(
    keyed_client: TestClient, admin: dict[str, str]
) -> None:
    first = {"symbol": "BTC-USD", "asset_class": "crypto"}
    assert keyed_client.post(SYMBOLS, json=first, headers=admin).status_code == 201
    again = {"symbol": "X:BTCUSD", "asset_class": "crypto"}
    assert keyed_client.post(SYMBOLS, json=again, headers=admin).status_code == 409
    keyed_client.delete(f"{SYMBOLS}/BTC-USD", headers=admin)
    conflict = keyed_client.post(SYMBOLS, json=first, headers=admin)
    assert conflict.status_code == 409
    assert "PUT" in conflict.json()["detail"]


def test_timeframes_are_validated_de_duplicated_and_ordered(
    keyed_client: TestClient, admin: dict[str, str]
) -> None:
    created = keyed_client.post(
        SYMBOLS,
        json={"symbol": "MSFT", "asset_class": "stock", "timeframes": ["1d", "1h", "1d"]},
        headers=admin,
    )
    assert created.json()["timeframes"] == ["1h", "1d"]
    url = f"{SYMBOLS}/MSFT/timeframes"
    replaced = keyed_client.put(url, json={"timeframes": ["1w", "1m", "1w", "15m"]}, headers=admin)
    assert replaced.status_code == 200
    assert replaced.json()["timeframes"] == ["1m", "15m", "1w"]
    for bad in ([], ["2h"], ["1D"], "1d", [None]):
        response = keyed_client.put(url, json={"timeframes": bad}, headers=admin)
        assert response.status_code == 422, bad


def test_listing_with_statistics_and_only_active_symbols(
    keyed_client: TestClient, admin: dict[str, str], conn: Connection[Any]
) -> None:
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1))
    seed_series(conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 1, 2))
    keyed_client.delete(f"{SYMBOLS}/ETH-USD", headers=admin)
    plain = keyed_client.get(SYMBOLS, headers=admin).json()
    assert plain["count"] == 2
    assert all(s["stats"] is None for s in plain["symbols"])
    active = keyed_client.get(SYMBOLS, params={"active_only": "true"}, headers=admin).json()
    assert [s["symbol"] for s in active["symbols"]] == ["AAPL"]
    detailed = keyed_client.get(SYMBOLS, params={"include_stats": "true"}, headers=admin).json()
    stats = {s["symbol"]: s["stats"] for s in detailed["symbols"]}
    bars = conn.execute("SELECT count(*) FROM bars WHERE symbol = 'AAPL'").fetchone()
    assert bars is not None and stats["AAPL"]["records"] == bars[0] > 0
    assert stats["AAPL"]["series"][0]["timeframe"] == "1d"
    assert stats["ETH-USD"]["records"] == 24


def test_getting_one_symbol_accepts_its_aliases_and_shows_statistics(
    keyed_client: TestClient, admin: dict[str, str], conn: Connection[Any]
) -> None:
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 1, 2))
    body = keyed_client.get(f"{SYMBOLS}/X:BTCUSD", headers=admin).json()
    assert body["symbol"] == "BTC-USD"
    assert body["stats"]["records"] == 24
    assert body["stats"]["validation_rate"] == 100.0


def test_renaming_reactivating_and_clearing_the_name(
    keyed_client: TestClient, admin: dict[str, str]
) -> None:
    keyed_client.post(SYMBOLS, json={"symbol": "KO", "asset_class": "stock"}, headers=admin)
    url = f"{SYMBOLS}/KO"
    renamed = keyed_client.put(url, json={"name": "Coca-Cola"}, headers=admin).json()
    assert renamed["name"] == "Coca-Cola" and renamed["active"] is True
    inactive = keyed_client.put(url, json={"active": False}, headers=admin).json()
    assert inactive["active"] is False and inactive["name"] == "Coca-Cola"
    cleared = keyed_client.put(url, json={"name": None, "active": True}, headers=admin).json()
    assert cleared["name"] is None and cleared["active"] is True


def test_deactivating_keeps_the_data_and_stops_the_backfill(
    keyed_client: TestClient, admin: dict[str, str], conn: Connection[Any]
) -> None:
    seeded = seed_series(conn, "AAPL")
    response = keyed_client.delete(f"{SYMBOLS}/AAPL", headers=admin)
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert list_symbols(conn, active_only=True) == []
    count = conn.execute("SELECT count(*) FROM bars WHERE symbol = 'AAPL'").fetchone()
    assert count == (seeded,)
    assert keyed_client.get(f"{SYMBOLS}/AAPL", headers=admin).json()["stats"]["records"] == seeded
    again = keyed_client.delete(f"{SYMBOLS}/AAPL", headers=admin)
    assert again.status_code == 200  # deactivating twice is harmless
