"""Shared pieces of the reliability suite: problem assertions, seeded data, a keyed app."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.keys.models import Scope
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance")
# Rate limits are their own test; the fuzzer and the corpus must not run into them.
UNLIMITED = 1_000_000


def assert_problem(response: Any, *statuses: int) -> dict[str, Any]:
    """An RFC 9457 problem document with one of `statuses` (any 4xx when none given)."""
    code = response.status_code
    if statuses:
        assert code in statuses, f"{code} not in {statuses}: {response.text[:500]}"
    else:
        assert 400 <= code < 500, f"expected a 4xx, got {code}: {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.headers
    body: dict[str, Any] = response.json()
    for member in PROBLEM_MEMBERS:
        assert member in body, f"problem without {member}: {body}"
    assert body["status"] == code
    return body


def seed_warehouse(conn: Connection[Any]) -> None:
    """A small warehouse: a stock, an ETF and a crypto pair, daily and hourly bars."""
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.H1, utc(2024, 6, 1), utc(2024, 7, 1))
    seed_series(conn, "SPY", AssetClass.ETF, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 7, 1))


def admin_key_without_limits(key_services: Any) -> str:
    """An admin (and read) key whose rate limit the tests never reach."""
    issued = key_services.admin.create(
        name="reliability admin",
        scopes=[Scope.READ, Scope.ADMIN],
        created_by="tests",
        rate_limit_per_minute=UNLIMITED,
    )
    return str(issued.api_key)


@pytest.fixture
def unlimited_admin_key(key_services: Any) -> str:
    return admin_key_without_limits(key_services)


@pytest.fixture
def seeded_client(keyed_client: TestClient, conn: Connection[Any]) -> TestClient:
    """The keyed API client over the small seeded warehouse."""
    seed_warehouse(conn)
    return keyed_client
