"""Service, status, metrics and symbol endpoints through the client, against the real app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from psycopg import Connection

from market_data import __version__ as server_version
from market_data.repositories.symbols import add_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import Client
from mdw_client._decode import decode
from mdw_client.models import Timeframes
from tests.helpers import seed_series, utc


def test_info_and_health(mdw: Client) -> None:
    info = mdw.info()
    assert info.name == "Market Data Warehouse API" and info.version == server_version
    assert info.links["historical"] == "/api/v1/historical/{symbol}"

    health = mdw.health()
    assert health.status == "healthy" and health.version == server_version
    assert health.timestamp.tzinfo is not None and health.checks == {}


def test_status_metrics_and_symbols_decode_what_the_server_sends(
    mdw: Client, client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1))
    add_symbols(conn, [("MSFT", AssetClass.STOCK)])  # tracked, no data yet

    status = mdw.status()
    raw = client.get("/api/v1/status").json()
    assert status.api_version == "v1" and status.status == raw["status"]
    assert status.database.total_records == raw["database"]["total_records"] == 21 + 31
    assert status.database.symbols_available == 2
    assert status.database.latest_data == datetime(2024, 1, 31, 5, tzinfo=UTC)  # AAPL, NY midnight
    assert status.database.validation_rate_pct == raw["database"]["validation_rate_pct"]
    assert status.data_quality.scheduler_status == raw["data_quality"]["scheduler_status"]
    assert status.data_quality.last_backfill is None  # no run yet
    assert status.data_quality.next_run is not None

    metrics = mdw.metrics()
    assert metrics.scheduler.schedule == "02:00 UTC daily"
    assert metrics.database == status.database
    assert metrics.health == {"api": "healthy", "database": "healthy"}
    assert metrics.last_backfill is None

    summary = mdw.symbols()
    assert summary.symbols == ["AAPL", "BTC-USD"] and summary.symbols_available == 2

    detailed = mdw.symbols_detailed()
    assert detailed.count == 3 and detailed.timestamp.tzinfo is not None
    by_symbol = {s.symbol: s for s in detailed.symbols}
    assert by_symbol["AAPL"].records == 21 and by_symbol["AAPL"].asset_class == "stock"
    assert by_symbol["BTC-USD"].asset_class == "crypto"
    assert by_symbol["MSFT"].status == "stale" and by_symbol["MSFT"].latest_data is None
    assert by_symbol["AAPL"].status in {"healthy", "warning", "stale"}
    assert "1d" in by_symbol["AAPL"].timeframes


def test_request_reaches_endpoints_without_a_method(mdw: Client) -> None:
    response = mdw.request("GET", "/api/v1/symbols")
    assert response.status_code == 200 and response.json()["symbols"] == []


def test_a_client_used_as_a_context_manager_leaves_an_injected_http_client_open(
    client: TestClient,
) -> None:
    with Client(http_client=client) as mdw:
        mdw.health()
    assert client.get("/health").status_code == 200


def test_timeframes_give_each_stored_timeframe_with_the_servers_caps_and_defaults(
    mdw: Client, client: TestClient
) -> None:
    served = mdw.timeframes()

    by_name = {t.timeframe: t for t in served.timeframes}
    assert list(by_name) == [t.value for t in Timeframe]
    assert by_name["5m"].seconds == 300 and by_name["5m"].intraday
    assert by_name["5m"].max_span_days == 366 and by_name["1d"].max_span_days == 50 * 366
    assert not by_name["1w"].intraday and by_name["1w"].seconds == 7 * 86_400
    assert served.defaults.min_quality == 0.85 and served.defaults.validated_only
    assert (served.defaults.limit, served.defaults.max_limit) == (5_000, 8_000)

    by_unit = {m.unit: m for m in served.multiples}
    assert list(by_unit) == ["m", "h", "d", "w", "mo"]
    assert by_unit["mo"].values() == ["1mo", "2mo", "3mo", "4mo", "6mo", "12mo"]
    assert by_unit["h"].intraday and by_unit["h"].built_from[0] == "1m"
    assert by_unit["d"].built_from == ["1d"] and by_unit["d"].max_span_days == 50 * 366
    # A server from before the multiples were listed still decodes.
    older = client.get("/api/v1/timeframes").json()
    del older["multiples"]
    assert decode(Timeframes, older).multiples == []


def test_corporate_actions_decode_what_the_server_stores(
    mdw: Client, conn: Connection[Any]
) -> None:
    from datetime import date

    from market_data.corporate_actions import CorporateActions, Dividend, Split
    from market_data.repositories.actions import replace_actions

    add_symbols(conn, [("AAPL", AssetClass.STOCK)])
    stored = CorporateActions(
        splits=(Split(date(2020, 8, 31), 1, 4),),
        dividends=(Dividend(date(2020, 8, 7), 0.82, record_date=date(2020, 8, 10)),),
    )
    replace_actions(conn, "AAPL", stored, "polygon", datetime(2024, 1, 2, tzinfo=UTC))

    actions = mdw.corporate_actions("AAPL")
    in_august = mdw.corporate_actions("AAPL", start="2020-08-20", end=date(2020, 9, 30))

    assert [(s.execution_date, s.ratio) for s in actions.splits] == [(date(2020, 8, 31), 4.0)]
    [dividend] = actions.dividends
    assert (dividend.ex_dividend_date, dividend.cash_amount) == (date(2020, 8, 7), 0.82)
    assert dividend.record_date == date(2020, 8, 10) and dividend.pay_date is None
    assert actions.sources == {"polygon": datetime(2024, 1, 2, tzinfo=UTC)}
    assert in_august.dividends == [] and len(in_august.splits) == 1
