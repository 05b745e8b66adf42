"""Every admin endpoint answers bad input with a 4xx problem document, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

KEYS = "/api/v1/admin/api-keys"
SYMBOLS = "/api/v1/admin/symbols"
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
NOT_JSON = object()  # marker: send a body that is not JSON at all

CASES: list[tuple[str, str, Any, int]] = [
    # API keys: malformed bodies
    ("POST", KEYS, NOT_JSON, 422),
    ("POST", KEYS, [], 422),
    ("POST", KEYS, {}, 422),
    ("POST", KEYS, {"name": ""}, 422),
    ("POST", KEYS, {"name": "   "}, 422),
    ("POST", KEYS, {"name": "x" * 101}, 422),
    ("POST", KEYS, {"name": 5}, 422),
    ("POST", KEYS, {"name": None}, 422),
    ("POST", KEYS, {"name": "x", "scopes": []}, 422),
    ("POST", KEYS, {"name": "x", "scopes": ["root"]}, 422),
    ("POST", KEYS, {"name": "x", "scopes": "admin"}, 422),
    ("POST", KEYS, {"name": "x", "expires_at": "next tuesday"}, 422),
    ("POST", KEYS, {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, 422),
    ("POST", KEYS, {"name": "x", "rate_limit_per_minute": 0}, 422),
    ("POST", KEYS, {"name": "x", "rate_limit_per_minute": "lots"}, 422),
    ("POST", KEYS, {"name": "x", "api_key": "mdw_choose_my_own"}, 422),
    ("GET", f"{KEYS}?active_only=perhaps", None, 422),
    # API keys: unknown or malformed ids
    ("GET", f"{KEYS}/{UNKNOWN_ID}", None, 404),
    ("GET", f"{KEYS}/{'x' * 65}", None, 422),
    ("PUT", f"{KEYS}/{UNKNOWN_ID}", {"active": False}, 404),
    ("PUT", f"{KEYS}/not-an-id", {"name": "y"}, 404),
    ("PUT", f"{KEYS}/{UNKNOWN_ID}", {}, 422),
    ("PUT", f"{KEYS}/{UNKNOWN_ID}", {"active": "maybe"}, 422),
    ("PUT", f"{KEYS}/{UNKNOWN_ID}", {"scopes": ["admin"]}, 422),
    ("PUT", f"{KEYS}/{UNKNOWN_ID}", NOT_JSON, 422),
    ("DELETE", f"{KEYS}/{UNKNOWN_ID}", None, 404),
    ("GET", f"{KEYS}/{UNKNOWN_ID}/audit", None, 404),
    ("GET", f"{KEYS}/unknown/audit?limit=0", None, 422),
    ("GET", f"{KEYS}/unknown/audit?limit=100000", None, 422),
    ("GET", f"{KEYS}/unknown/audit?cursor=not-a-cursor", None, 400),
    ("GET", f"{KEYS}/unknown/audit?cursor=%00%01", None, 400),
    # Symbols: malformed bodies and bad symbols
    ("POST", SYMBOLS, NOT_JSON, 422),
    ("POST", SYMBOLS, {}, 422),
    # asset_class is inferred when omitted (as the replaced API did): AAPL is a stock,
    # already tracked here, so a 409.
    ("POST", SYMBOLS, {"symbol": "AAPL"}, 409),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "bond"}, 422),
    ("POST", SYMBOLS, {"symbol": 123, "asset_class": "stock"}, 422),
    ("POST", SYMBOLS, {"symbol": "A" * 41, "asset_class": "stock"}, 422),
    ("POST", SYMBOLS, {"symbol": "AA PL", "asset_class": "stock"}, 422),
    ("POST", SYMBOLS, {"symbol": "'; DROP TABLE bars; --", "asset_class": "stock"}, 422),
    ("POST", SYMBOLS, {"symbol": "BTC-USD", "asset_class": "stock"}, 422),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "crypto"}, 422),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "stock", "timeframes": []}, 422),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "stock", "timeframes": ["2h"]}, 422),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "stock", "active": False}, 422),
    ("POST", SYMBOLS, {"symbol": "AAPL", "asset_class": "stock", "name": ""}, 422),
    ("GET", f"{SYMBOLS}?include_stats=perhaps", None, 422),
    # Symbols: unknown or malformed symbols in the path
    ("GET", f"{SYMBOLS}/ZZZZ", None, 404),
    ("GET", f"{SYMBOLS}/NOT!VALID", None, 422),
    ("GET", f"{SYMBOLS}/{'A' * 41}", None, 422),
    ("PUT", f"{SYMBOLS}/ZZZZ", {"active": False}, 404),
    ("PUT", f"{SYMBOLS}/AAPL", {}, 422),
    ("PUT", f"{SYMBOLS}/AAPL", {"active": "sometimes"}, 422),
    ("PUT", f"{SYMBOLS}/AAPL", {"symbol": "MSFT"}, 422),
    ("PUT", f"{SYMBOLS}/AAPL", NOT_JSON, 422),
    ("PUT", f"{SYMBOLS}/bad$ymbol", {"active": True}, 422),
    ("PUT", f"{SYMBOLS}/ZZZZ/timeframes", {"timeframes": ["1d"]}, 404),
    ("PUT", f"{SYMBOLS}/AAPL/timeframes", {"timeframes": "1d"}, 422),
    ("PUT", f"{SYMBOLS}/AAPL/timeframes", {}, 422),
    ("PUT", f"{SYMBOLS}/AAPL/timeframes", {"timeframes": ["1d"], "extra": 1}, 422),
    ("DELETE", f"{SYMBOLS}/ZZZZ", None, 404),
    ("DELETE", f"{SYMBOLS}/%20", None, 422),
]


@pytest.fixture
def tracked_aapl(keyed_client: TestClient, admin_key: str) -> None:
    response = keyed_client.post(
        SYMBOLS, json={"symbol": "AAPL", "asset_class": "stock"}, headers={"X-API-Key": admin_key}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    CASES,
    ids=[f"{m} {p} {b if b is not NOT_JSON else 'not-json'}"[:90] for m, p, b, _ in CASES],
)
def test_bad_input_is_a_4xx_problem_never_a_5xx(
    keyed_client: TestClient,
    admin_key: str,
    tracked_aapl: None,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    headers = {"X-API-Key": admin_key}
    if body is NOT_JSON:
        response = keyed_client.request(
            method,
            path,
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
    else:
        response = keyed_client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert "Traceback" not in response.text and "psycopg" not in response.text
