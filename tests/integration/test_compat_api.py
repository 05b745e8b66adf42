"""What clients of the replaced system rely on (docs/MIGRATING.md), answered as they expect it.

Each test is one habit of an old client: a header it reads, a parameter it
sends, a field it expects, an endpoint it still calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from market_data.settings import Settings

PROBLEM = "application/problem+json"


# --- X-Trace-ID -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/api/v1/status", 200),
        ("GET", "/api/v1/historical/NOPE", 404),
        ("GET", "/api/v1/historical/AAPL?timeframe=7x", 422),
        ("POST", "/health", 405),
        ("OPTIONS", "/api/v1/symbols", 204),
        ("GET", "/dashboard/", 200),
        ("GET", "/api/v1/performance/summary", 410),
        ("GET", "/nowhere", 404),
    ],
)
def test_every_response_carries_a_fresh_x_trace_id(
    client: TestClient, method: str, path: str, status: int
) -> None:
    first = client.request(method, path)
    second = client.request(method, path)
    assert first.status_code == status
    assert first.headers["x-trace-id"] and second.headers["x-trace-id"]
    assert first.headers["x-trace-id"] != second.headers["x-trace-id"]


def test_an_unexpected_error_carries_the_trace_id_too(settings: Settings) -> None:
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert len(response.headers["x-trace-id"]) == 32


def test_the_trace_id_is_the_audit_events_request_id(
    keyed_client: TestClient, key_services: Any, admin_key: str
) -> None:
    response = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": admin_key})
    assert response.status_code == 200
    key_id = key_services.authenticator.authenticate(admin_key).key_id
    (audited,) = key_services.audit.page(key_id, limit=5).events
    assert audited.request_id == response.headers["x-trace-id"]


def test_a_clients_own_trace_id_is_not_taken_over(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Trace-ID": "chosen-by-the-caller"})
    assert response.headers["x-trace-id"] != "chosen-by-the-caller"


# --- OPTIONS and CORS -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/health", "GET, OPTIONS"),
        ("/api/v1/historical/AAPL", "GET, OPTIONS"),
        ("/api/v1/admin/symbols", "GET, OPTIONS, POST"),
        ("/api/v1/admin/symbols/AAPL", "DELETE, GET, OPTIONS, PUT"),
        ("/dashboard/", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_without_cors_lists_the_methods_of_the_path(
    client: TestClient, path: str, allow: str
) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert response.content == b""


def test_a_method_the_path_does_not_support_is_a_405_that_lists_the_others(
    client: TestClient,
) -> None:
    response = client.delete("/api/v1/admin/symbols")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, OPTIONS, POST"
    assert response.headers["content-type"] == PROBLEM


def test_options_on_an_unknown_path_is_still_a_404(client: TestClient) -> None:
    assert client.options("/nowhere").status_code == 404


@pytest.mark.parametrize("origin", ["http://127.0.0.1:5500", "http://localhost:3000"])
def test_locally_any_loopback_origin_may_read_the_api(client: TestClient, origin: str) -> None:
    response = client.get("/health", headers={"Origin": origin})
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"]
    assert "X-Trace-ID" in exposed and "Link" in exposed
    preflight = client.options(
        "/api/v1/admin/symbols",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin


def test_other_origins_and_other_stages_get_no_cors_grant(settings: Settings) -> None:
    with TestClient(create_app(settings)) as local:
        response = local.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    deployed = settings.model_copy(update={"stage": "dev"})
    with TestClient(create_app(deployed)) as dev:
        response = dev.get("/health", headers={"Origin": "http://127.0.0.1:5500"})
        assert "access-control-allow-origin" not in response.headers


def test_prod_refuses_a_wildcard_or_loopback_cors_grant(settings: Settings) -> None:
    for update in ({"cors_allow_origins": ["*"]}, {"cors_allow_loopback": True}):
        with pytest.raises(ValueError, match="refused in prod"):
            Settings(database_url=settings.database_url, stage="prod", **update)


# --- retired endpoints ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "names"),
    [
        ("GET", "/api/v1/observability/metrics", "/api/v1/metrics"),
        ("GET", "/api/v1/observability/alerts", "CloudWatch"),
        ("GET", "/api/v1/performance/cache", "CloudWatch"),
        ("GET", "/api/v1/performance/queries", "make bench"),
        ("GET", "/api/v1/performance/summary", "CloudWatch"),
        ("POST", "/api/v1/tests/run", "make test"),
        ("GET", "/api/v1/tests/run", "make test"),
    ],
)
def test_retired_endpoints_are_gone_and_say_what_replaces_them(
    client: TestClient, method: str, path: str, names: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 410
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 410 and problem["title"] == "Gone"
    assert problem["type"].endswith("/retired-endpoint")
    assert problem["instance"] == path
    assert names in problem["detail"]
    assert problem["replaced_by"] and all("title" in r for r in problem["replaced_by"])


def test_the_metrics_replacement_is_a_link_to_the_endpoint(client: TestClient) -> None:
    problem = client.get("/api/v1/observability/metrics").json()
    assert {"title": problem["replaced_by"][0]["title"], "href": "/api/v1/metrics"} == (
        problem["replaced_by"][0]
    )
    assert client.get(problem["replaced_by"][0]["href"]).status_code == 200


def test_retired_endpoints_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "/observability" in p or "/performance" in p or "/tests" in p]


# --- the scheduler, in the old words ----------------------------------------------------


def _scheduler_views(client: TestClient) -> tuple[Any, Any, Any]:
    health = client.get("/health").json()
    status = client.get("/api/v1/status").json()["data_quality"]
    scheduler = client.get("/api/v1/metrics").json()["scheduler"]
    return health, status, scheduler


def test_an_enabled_schedule_reads_running_as_the_old_dashboard_expects(
    client: TestClient,
) -> None:
    health, status, scheduler = _scheduler_views(client)
    assert health["scheduler_running"] is True
    assert status["scheduler_status"] == "running" and status["run_state"] == "idle"
    assert status["next_run"].endswith("T02:00:00Z")
    assert scheduler["running"] is True and scheduler["status"] == "running"
    assert scheduler["run_state"] == "idle" and scheduler["next_run"] == status["next_run"]


def test_a_disabled_schedule_reads_stopped_with_no_next_run(settings: Settings) -> None:
    disabled = settings.model_copy(update={"nightly_schedule_enabled": False})
    with TestClient(create_app(disabled)) as client:
        health, status, scheduler = _scheduler_views(client)
    assert health["scheduler_running"] is False
    assert status["scheduler_status"] == "stopped" and status["next_run"] is None
    assert scheduler["running"] is False and scheduler["status"] == "stopped"


def test_a_run_under_way_is_the_run_state_not_the_scheduler_status(
    client: TestClient, conn: Any
) -> None:
    conn.execute(
        "INSERT INTO backfill_runs (id, trigger, started_at, jobs_total) "
        "VALUES (gen_random_uuid(), 'schedule', now(), 1)"
    )
    conn.execute(
        "INSERT INTO backfill_jobs (id, run_id, symbol, timeframe, range_start, range_end, status)"
        " SELECT gen_random_uuid(), id, 'AAPL', '1d', now() - interval '1 day', now(), 'queued'"
        " FROM backfill_runs"
    )
    _, status, scheduler = _scheduler_views(client)
    assert status["scheduler_status"] == "running" and status["run_state"] == "running"
    assert scheduler["run_state"] == "running"


# --- historical rows and pages ----------------------------------------------------------


@pytest.fixture
def aapl_5m(conn: Any) -> int:
    from market_data.symbols import AssetClass
    from market_data.timeframes import Timeframe
    from tests.helpers import seed_series, utc

    return seed_series(
        conn, "AAPL", AssetClass.STOCK, Timeframe.M5, utc(2024, 6, 3), utc(2024, 6, 15)
    )


def test_each_row_names_its_symbol_and_timeframe(client: TestClient, aapl_5m: int) -> None:
    body = client.get(
        "/api/v1/historical/aapl", params={"timeframe": "5m", "start": "2024-06-03", "limit": 3}
    ).json()
    assert [(r["symbol"], r["timeframe"]) for r in body["data"]] == [("AAPL", "5m")] * 3
    assert list(body["data"][0])[:3] == ["symbol", "timeframe", "time"]


def test_a_start_without_end_pages_forward_from_start_however_long_ago(
    client: TestClient, aapl_5m: int
) -> None:
    """More than 366 days to now: a 422 before; the first bars after start now."""
    response = client.get(
        "/api/v1/historical/AAPL", params={"timeframe": "5m", "start": "2024-06-03", "limit": 500}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 500 and body["has_more"] is True
    assert body["data"][0]["time"] == "2024-06-03T08:00:00Z"  # 04:00 New York, pre-market
    seen = [r["time"] for r in body["data"]]
    while body["next_cursor"]:
        body = client.get(
            "/api/v1/historical/AAPL",
            params={"timeframe": "5m", "start": "2024-06-03", "limit": 500,
                    "cursor": body["next_cursor"]},
        ).json()  # fmt: skip
        seen += [r["time"] for r in body["data"]]
    assert len(seen) == len(set(seen)) == aapl_5m
    assert body["has_more"] is False


def test_a_page_that_stops_early_says_so_and_links_the_next(
    client: TestClient, aapl_5m: int
) -> None:
    params = {"timeframe": "5m", "start": "2024-06-03", "end": "2024-06-14", "limit": 1000}
    first = client.get("/api/v1/historical/AAPL", params=params)
    body = first.json()
    assert body["has_more"] is True and body["count"] == 1000
    assert body["end_date"] == "2024-06-14"  # the range asked for; has_more says it is not done
    assert first.links["next"]["url"].startswith("http://testserver/api/v1/historical/AAPL?")
    following = client.get(first.links["next"]["url"])
    assert following.status_code == 200
    assert following.json()["data"][0]["time"] > body["data"][-1]["time"]
    last = client.get("/api/v1/historical/AAPL", params={**params, "limit": 8000})
    assert last.json()["has_more"] is False and "link" not in last.headers


def test_csv_pages_link_the_next_one_and_spell_booleans_in_lower_case(
    client: TestClient, aapl_5m: int
) -> None:
    params = {"timeframe": "5m", "start": "2024-06-03", "limit": 10, "format": "csv"}
    response = client.get("/api/v1/historical/AAPL", params=params)
    assert response.headers["x-next-cursor"] in response.links["next"]["url"]
    header, first = response.text.splitlines()[:2]
    validated = header.split(",").index("validated")
    assert first.split(",")[validated] == "true"
    assert "True" not in response.text and "False" not in response.text


# --- admin habits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "inferred"),
    [
        ("IBM", "stock"),
        ("BTCUSD", "crypto"),
        ("X:ETHUSD", "crypto"),
        ("doge-usd", "crypto"),
        ("VIX", "index"),
        ("I:SPX", "index"),
        ("NDX", "index"),
        ("SPY", "etf"),
        ("BRK.B", "stock"),
    ],
)
def test_tracking_a_symbol_without_an_asset_class_infers_it(
    keyed_client: TestClient, admin_key: str, symbol: str, inferred: str
) -> None:
    response = keyed_client.post(
        "/api/v1/admin/symbols", json={"symbol": symbol}, headers={"X-API-Key": admin_key}
    )
    assert response.status_code == 201, response.text
    assert response.json()["asset_class"] == inferred


def test_a_given_asset_class_is_still_checked(keyed_client: TestClient, admin_key: str) -> None:
    response = keyed_client.post(
        "/api/v1/admin/symbols",
        json={"symbol": "BTC-USD", "asset_class": "stock"},
        headers={"X-API-Key": admin_key},
    )
    assert response.status_code == 422


def test_active_may_be_a_query_parameter_as_before(
    keyed_client: TestClient, admin_key: str
) -> None:
    admin = {"X-API-Key": admin_key}
    keyed_client.post("/api/v1/admin/symbols", json={"symbol": "IBM"}, headers=admin)
    off = keyed_client.put("/api/v1/admin/symbols/IBM?active=false", headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    on = keyed_client.put("/api/v1/admin/symbols/IBM", params={"active": "true"}, headers=admin)
    assert on.json()["active"] is True
    both = keyed_client.put(
        "/api/v1/admin/symbols/IBM?active=true", json={"active": False}, headers=admin
    )
    assert both.status_code == 422 and "disagree" in both.json()["detail"]
    neither = keyed_client.put("/api/v1/admin/symbols/IBM", headers=admin)
    assert neither.status_code == 422
    renamed = keyed_client.put(
        "/api/v1/admin/symbols/IBM", json={"name": "IBM Corp"}, headers=admin
    )
    assert renamed.json()["name"] == "IBM Corp" and renamed.json()["active"] is True


def test_the_audit_trail_pages_by_offset_beside_the_cursor(
    keyed_client: TestClient, key_services: Any, admin_key: str
) -> None:
    from market_data.keys.models import Scope

    for _ in range(7):
        calls = keyed_client.get("/api/v1/admin/api-keys", headers={"X-API-Key": admin_key})
        assert calls.status_code == 200
    key_id = key_services.authenticator.authenticate(admin_key).key_id
    # Another key reads the trail, so that reading it does not add to it.
    reader = key_services.admin.create(name="reader", scopes=[Scope.ADMIN], created_by="tests")
    admin = {"X-API-Key": reader.api_key}
    url = f"/api/v1/admin/api-keys/{key_id}/audit"
    everything = keyed_client.get(url, params={"limit": 50}, headers=admin).json()["events"]
    by_cursor = keyed_client.get(url, params={"limit": 3}, headers=admin).json()
    by_cursor = keyed_client.get(
        url, params={"limit": 3, "cursor": by_cursor["next_cursor"]}, headers=admin
    ).json()
    by_offset = keyed_client.get(url, params={"limit": 3, "offset": 3}, headers=admin).json()
    assert by_offset["events"] == by_cursor["events"] == everything[3:6]
    beyond = keyed_client.get(url, params={"offset": 500}, headers=admin).json()
    assert beyond["events"] == [] and beyond["next_cursor"] is None
    both = keyed_client.get(
        url, params={"offset": 3, "cursor": by_cursor["next_cursor"]}, headers=admin
    )
    assert both.status_code == 422
    too_deep = keyed_client.get(url, params={"offset": 10_001}, headers=admin)
    assert too_deep.status_code == 422
