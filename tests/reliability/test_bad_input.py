"""A corpus of hostile inputs against every endpoint that takes input.

Each request must be refused with a 4xx problem document (no 5xx, no stack
trace, no SQL), the data must be intact afterwards, and no hostile value may be
written into the text of a SQL statement: `sql_recorder` sees every statement
psycopg sends, so a value formatted into one (f-string, sql.Literal) fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from api.app import create_app
from market_data.db import get_pool
from market_data.settings import Settings
from tests.helpers import table_checksum
from tests.reliability.conftest import SqlRecorder, assert_problem, wired

# Strings an attacker or a broken client sends, by kind.
HOSTILE: dict[str, str] = {
    "sql-quote-drop": "AAPL'; DROP TABLE bars;--",
    "sql-tautology": "' OR '1'='1",
    "sql-union": "X') UNION SELECT symbol FROM symbols--",
    "sql-stacked-sleep": "AAPL; SELECT pg_sleep(5)",
    "json-operator": '{"$ne": null}',
    "json-breakout": '"},{"symbol":"EVIL","x":"',
    "path-traversal": "../../../../etc/passwd",
    "encoded-traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
    "nul-byte": "AAPL\x00",
    "control-chars": "AA\x1b[31mPL\x07",
    "crlf": "AAPL\r\nX-Injected: 1",
    "rtl-override": "\u202eLPAA",
    "fullwidth": "\uff21\uff21\uff30\uff2c",
    "zero-width": "AA\u200bPL",
    "emoji": "\U0001f4c8\U0001f680",
    "lone-surrogate-escape": "\\ud800",
    "huge": "A" * 8_000,  # API Gateway refuses URLs over 10 kB itself
}
JOB = "00000000-0000-4000-8000-000000000000"
KEY = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Slot:
    """Where a hostile value goes: `{}` in the path (percent-encoded), a query
    parameter, or a JSON body field (`body` with the value put in by `fill`)."""

    method: str
    path: str
    query: str | None = None
    body: dict[str, Any] | None = None
    field: str | None = None
    as_list: bool = False
    admin: bool = False
    expected: tuple[int, ...] = (400, 404, 422)

    def request(self, value: str) -> dict[str, Any]:
        path = self.path.replace("{}", quote(value, safe="")) if "{}" in self.path else self.path
        kwargs: dict[str, Any] = {"method": self.method, "url": path}
        if self.query is not None:
            kwargs["params"] = {self.query: value}
        if self.body is not None:
            body = dict(self.body)
            if self.field is not None:
                body[self.field] = [value] if self.as_list else value
            kwargs["json"] = body
        return kwargs


SLOTS: dict[str, Slot] = {
    "historical symbol": Slot("GET", "/api/v1/historical/{}"),
    **{
        f"historical {name}": Slot("GET", "/api/v1/historical/AAPL", query=name)
        for name in (
            "timeframe",
            "start",
            "end",
            "cursor",
            "sort",
            "format",
            "limit",
            "min_quality",
            "validated_only",
        )
    },
    "tracked symbol": Slot("GET", "/api/v1/admin/symbols/{}", admin=True),
    "symbol update": Slot("PUT", "/api/v1/admin/symbols/{}", body={"active": True}, admin=True),
    "symbol timeframes": Slot(
        "PUT", "/api/v1/admin/symbols/{}/timeframes", body={"timeframes": ["1d"]}, admin=True
    ),
    "symbol deactivation": Slot("DELETE", "/api/v1/admin/symbols/{}", admin=True),
    "new symbol": Slot(
        "POST", "/api/v1/admin/symbols", body={"asset_class": "stock"}, field="symbol", admin=True
    ),
    "new symbol asset class": Slot(
        "POST", "/api/v1/admin/symbols", body={"symbol": "IBM"}, field="asset_class", admin=True
    ),
    "new symbol timeframes": Slot(
        "POST",
        "/api/v1/admin/symbols",
        body={"symbol": "IBM", "asset_class": "stock"},
        field="timeframes",
        as_list=True,
        admin=True,
    ),
    "backfill symbols": Slot(
        "POST", "/api/v1/admin/backfill", body={}, field="symbols", as_list=True, admin=True
    ),
    "backfill timeframes": Slot(
        "POST", "/api/v1/admin/backfill", body={}, field="timeframes", as_list=True, admin=True
    ),
    "backfill start": Slot("POST", "/api/v1/admin/backfill", body={}, field="start", admin=True),
    "backfill end": Slot("POST", "/api/v1/admin/backfill", body={}, field="end", admin=True),
    "backfill job id": Slot("GET", "/api/v1/admin/backfill/{}", admin=True),
    "key id": Slot("GET", "/api/v1/admin/api-keys/{}", admin=True),
    "key update": Slot("PUT", "/api/v1/admin/api-keys/{}", body={"active": True}, admin=True),
    "key deletion": Slot("DELETE", "/api/v1/admin/api-keys/{}", admin=True),
    "key audit": Slot("GET", "/api/v1/admin/api-keys/{}/audit", admin=True),
    "key audit cursor": Slot(
        "GET", f"/api/v1/admin/api-keys/{KEY}/audit", query="cursor", admin=True
    ),
    "new key scopes": Slot(
        "POST",
        "/api/v1/admin/api-keys",
        body={"name": "x"},
        field="scopes",
        as_list=True,
        admin=True,
    ),
    "new key expiry": Slot(
        "POST", "/api/v1/admin/api-keys", body={"name": "x"}, field="expires_at", admin=True
    ),
}


@dataclass(frozen=True)
class Special:
    """A hand-written hostile request and the statuses it may get."""

    request: dict[str, Any]
    expected: tuple[int, ...]
    admin: bool = True


def get(url: str, *expected: int, admin: bool = False, headers: Any = None) -> Special:
    return Special({"method": "GET", "url": url, "headers": headers or {}}, expected, admin)


def send_json(method: str, url: str, body: Any, *expected: int) -> Special:
    return Special({"method": method, "url": url, "json": body}, expected)


def send_raw(url: str, content: bytes | str, content_type: str | None, *expected: int) -> Special:
    headers = {"content-type": content_type} if content_type else {}
    return Special({"method": "POST", "url": url, "content": content, "headers": headers}, expected)


SYMBOLS, KEYS, BACKFILL = (
    "/api/v1/admin/symbols",
    "/api/v1/admin/api-keys",
    "/api/v1/admin/backfill",
)
SYMBOL_BODY = json.dumps({"symbol": "IBM", "asset_class": "stock"})
HISTORICAL = "/api/v1/historical/AAPL"
SPECIALS: dict[str, Special] = {
    # negative and zero limits
    "negative limit": get(f"{HISTORICAL}?limit=-1", 422),
    "zero limit": get(f"{HISTORICAL}?limit=0", 422),
    "negative audit limit": get(f"{KEYS}/{KEY}/audit?limit=-5", 422, admin=True),
    # enormous and non-finite numbers
    "limit of 10^30": get(f"{HISTORICAL}?limit={10**30}", 422),
    "fractional limit": get(f"{HISTORICAL}?limit=1e3", 422),
    "quality of 1e308": get(f"{HISTORICAL}?min_quality=1e308", 422),
    "quality NaN": get(f"{HISTORICAL}?min_quality=NaN", 422),
    "quality -Infinity": get(f"{HISTORICAL}?min_quality=-Infinity", 422),
    "rate limit 1e400": send_raw(
        KEYS, '{"name":"x","rate_limit_per_minute":1e400}', "application/json", 422
    ),
    "rate limit 10^30": send_json(
        "POST", KEYS, {"name": "x", "rate_limit_per_minute": 10**30}, 422
    ),
    "rate limit true": send_json("POST", KEYS, {"name": "x", "rate_limit_per_minute": True}, 422),
    "revocation by the string no": send_json("PUT", f"{KEYS}/{KEY}", {"active": "no"}, 422),
    # huge and deeply nested bodies
    "5 MB name": send_json(
        "POST", SYMBOLS, {"symbol": "IBM", "asset_class": "stock", "name": "x" * 5_000_000}, 422
    ),
    "half a million symbols": send_json("POST", BACKFILL, {"symbols": ["AAPL"] * 500_000}, 422),
    "JSON nested 100,000 deep": send_raw(
        SYMBOLS, "[" * 100_000 + "]" * 100_000, "application/json", 400, 422
    ),
    "NUL in a name": send_json(
        "POST", SYMBOLS, {"symbol": "IBM", "asset_class": "stock", "name": "a\x00b"}, 422
    ),
    "CRLF in a key name": send_json("POST", KEYS, {"name": "x\r\nadmin: yes"}, 422),
    # wrong content types and encodings
    "text/plain body": send_raw(SYMBOLS, SYMBOL_BODY, "text/plain", 422),
    "form body": send_raw(
        SYMBOLS, "symbol=IBM&asset_class=stock", "application/x-www-form-urlencoded", 422
    ),
    "XML body": send_raw(KEYS, "<key><name>x</name></key>", "application/xml", 422),
    "multipart body": send_raw(
        BACKFILL, b"--b\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", 422
    ),
    "no content type": send_raw(SYMBOLS, SYMBOL_BODY, None, 422),
    "invalid UTF-8 body": send_raw(
        SYMBOLS, b'{"symbol":"\xff\xfe","asset_class":"stock"}', "application/json", 400
    ),
    "truncated JSON": send_raw(SYMBOLS, '{"symbol": "IB', "application/json", 422),
    "JSON array instead of object": send_json("POST", BACKFILL, ["AAPL"], 422),
    "unknown body field": send_json(
        "POST", SYMBOLS, {"symbol": "IBM", "asset_class": "stock", "is_admin": True}, 422
    ),
    # duplicate parameters
    "repeated limit": get(f"{HISTORICAL}?limit=1&limit=2", 400),
    "repeated timeframe": get(f"{HISTORICAL}?timeframe=1d&timeframe=1m", 400),
    "repeated admin flag": get(f"{SYMBOLS}?active_only=true&active_only=false", 400, admin=True),
    "two API keys": get("/api/v1/symbols", 400, headers=[("X-API-Key", "a"), ("X-API-Key", "b")]),
    # ranges spanning centuries, and impossible dates
    "1970 to 2099, daily": get(f"{HISTORICAL}?start=1970-01-01&end=2099-12-31", 422),
    "1900 to 2099": get(f"{HISTORICAL}?start=1900-01-01&end=2099-12-31", 422),
    "year 1 to 9999, minutes": get(
        f"{HISTORICAL}?timeframe=1m&start=0001-01-01&end=9999-12-31", 422
    ),
    "offset before year 1": get(f"{HISTORICAL}?start=0001-01-01T00:00:00%2B14:00", 422),
    "offset after year 9999": get(f"{HISTORICAL}?end=9999-12-31T23:59:59-14:00", 422),
    "30 February": get(f"{HISTORICAL}?start=2024-02-30", 422),
    "reversed range": get(f"{HISTORICAL}?start=2024-06-01&end=2024-01-01", 422),
    "backfill from the year 1000": send_json(
        "POST", BACKFILL, {"symbols": ["AAPL"], "start": "1000-01-01"}, 422
    ),
    "backfill to 9999-12-31": send_json(
        "POST", BACKFILL, {"symbols": ["AAPL"], "start": "2024-01-01", "end": "9999-12-31"}, 422
    ),
    # hostile keys and paths
    "100 kB API key": get("/api/v1/symbols", 401, headers={"X-API-Key": "mdw_" + "A" * 100_000}),
    "SQL in the API key": get(SYMBOLS, 401, headers={"X-API-Key": "' OR '1'='1"}),
    "traversal out of the dashboard": get("/dashboard/..%2F..%2F..%2F..%2Fetc%2Fpasswd", 404),
    "dot segments in the dashboard": get("/dashboard/%2e%2e/%2e%2e/app.py", 404),
}


@pytest.fixture(scope="module")
def hostile_client(
    settings: Settings, module_conn: Connection[Any], module_key_services: Any
) -> Iterator[TestClient]:
    app = create_app(settings)
    with wired(app, module_key_services), TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def intact_data(module_conn: Connection[Any]) -> dict[str, str]:
    return {table: table_checksum(module_conn, table) for table in ("bars", "series_stats")}


@pytest.fixture
def data_stays_intact(module_conn: Connection[Any], intact_data: dict[str, str]) -> Iterator[None]:
    symbols = table_checksum(module_conn, "symbols")
    yield
    assert {table: table_checksum(module_conn, table) for table in intact_data} == intact_data
    assert table_checksum(module_conn, "symbols") == symbols, "a hostile request changed symbols"


def send(client: TestClient, request: dict[str, Any], key: str | None) -> Any:
    request = dict(request)
    headers = request.pop("headers", {})
    if key is not None:
        headers = [("X-API-Key", key), *(headers.items() if isinstance(headers, dict) else headers)]
    return client.request(**request, headers=headers)


CASES = [
    pytest.param(slot, value, id=f"{slot_name}-{value_name}")
    for slot_name, slot in SLOTS.items()
    for value_name, value in HOSTILE.items()
]


@pytest.mark.parametrize(("slot", "value"), CASES)
def test_a_hostile_value_is_a_4xx_problem_and_never_part_of_a_sql_statement(
    hostile_client: TestClient,
    module_admin_key: str,
    sql_recorder: SqlRecorder,
    data_stays_intact: None,
    slot: Slot,
    value: str,
) -> None:
    response = send(hostile_client, slot.request(value), module_admin_key if slot.admin else None)
    assert_problem(response, *slot.expected)
    sql_recorder.assert_never_contains(value)


@pytest.mark.parametrize("special", [pytest.param(s, id=n) for n, s in SPECIALS.items()])
def test_a_hostile_request_is_a_4xx_problem(
    hostile_client: TestClient,
    module_admin_key: str,
    sql_recorder: SqlRecorder,
    data_stays_intact: None,
    special: Special,
) -> None:
    response = send(hostile_client, special.request, module_admin_key if special.admin else None)
    assert_problem(response, *special.expected)
    assert "root:" not in response.text


# Free text is data: stored and returned exactly, and still never part of a statement.
FREE_TEXT = [
    "Robert'); DROP TABLE bars;--",
    "' OR '1'='1' --",
    '"},{"symbol":"EVIL"}',
    "\u202eLPAA \U0001f4c8 \uff21\u200b",
    "$(rm -rf /) `id` ${jndi:ldap://x}",
]


@pytest.mark.parametrize("name", FREE_TEXT)
def test_hostile_free_text_is_stored_verbatim_through_parameters(
    hostile_client: TestClient,
    module_admin_key: str,
    sql_recorder: SqlRecorder,
    module_conn: Connection[Any],
    intact_data: dict[str, str],
    name: str,
) -> None:
    admin = {"X-API-Key": module_admin_key}
    module_conn.execute("DELETE FROM symbols WHERE symbol = 'IBM'")
    created = hostile_client.post(
        "/api/v1/admin/symbols",
        json={"symbol": "IBM", "asset_class": "stock", "name": name},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    renamed = hostile_client.put("/api/v1/admin/symbols/IBM", json={"name": name}, headers=admin)
    assert renamed.json()["name"] == name
    assert hostile_client.get("/api/v1/admin/symbols/IBM", headers=admin).json()["name"] == name
    stored = module_conn.execute("SELECT name FROM symbols WHERE symbol = 'IBM'").fetchone()
    assert stored == (name,)
    key = hostile_client.post("/api/v1/admin/api-keys", json={"name": name}, headers=admin)
    assert key.status_code == 201 and key.json()["name"] == name
    sql_recorder.assert_never_contains(name)
    assert {table: table_checksum(module_conn, table) for table in intact_data} == intact_data


def test_the_sql_recorder_catches_a_value_formatted_into_a_statement(
    settings: Settings, sql_recorder: SqlRecorder
) -> None:
    from psycopg import sql

    injected = "AAPL'; DROP TABLE bars;--"
    with get_pool(settings).connection() as conn:
        conn.execute("SELECT %s::text", (injected,))
        sql_recorder.assert_never_contains(injected)  # a parameter: fine
        conn.execute(sql.SQL("SELECT {}::text").format(sql.Literal(injected)))
    with pytest.raises(AssertionError, match="formatted into SQL"):
        sql_recorder.assert_never_contains(injected)
