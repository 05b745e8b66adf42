"""The routers other than the first request's are imported on first need (api.app.App).

Lazy inclusion must change nothing a client sees: the OpenAPI document, which
route a request reaches, and every answer are those of an app built with all
routers at once.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from api.app import EAGER_ROUTERS, ROUTERS, App, create_app
from market_data import snapstart
from market_data.settings import Settings

ALL = frozenset(name for name, _ in ROUTERS)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "",
            "query_string": b"", "headers": []}  # fmt: skip


def _first_full_match(app: App, method: str, path: str) -> int | None:
    for index, route in enumerate(app.router.routes):
        if route.matches(_scope(method, path))[0] is Match.FULL:
            return index
    return None


def _eager_paths() -> list[str]:
    """A concrete path for every route of the eager routers ({symbol} -> X)."""
    paths = {
        route.path
        for name in EAGER_ROUTERS
        for route in importlib.import_module(f"api.routes.{name}").router.routes
        if isinstance(route, APIRoute)
    }
    return sorted(re.sub(r"\{[^}]+\}", "X", path) for path in paths)


def test_a_new_app_imports_only_the_eager_routers(settings: Settings) -> None:
    app = create_app(settings)
    assert set(app.pending_routers) == ALL - EAGER_ROUTERS
    app.load_routers()
    assert app.pending_routers == ()


def test_the_openapi_document_is_that_of_an_app_built_with_every_router(
    settings: Settings,
) -> None:
    lazy = create_app(settings).openapi()
    eager = create_app(settings, eager_routers=ALL).openapi()
    # Byte for byte, order included (clients and the generated docs follow it).
    assert json.dumps(lazy) == json.dumps(eager)


def test_no_router_before_the_eager_ones_shadows_their_routes(settings: Settings) -> None:
    # A request the eager routes fully match is served before the others are imported:
    # with all of them it must reach the same route (the same top-level router).
    paths = _eager_paths()
    assert "/api/v1/historical/X" in paths
    lazy, full = create_app(settings), create_app(settings, eager_routers=ALL)
    for path in paths:
        for method in METHODS:
            matched = _first_full_match(lazy, method, path)
            if matched is not None:
                assert _first_full_match(full, method, path) == matched, (method, path)


def test_a_request_the_eager_routes_serve_imports_nothing_more(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/api/v1/timeframes").status_code == 200
        assert set(app.pending_routers) == ALL - EAGER_ROUTERS


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/no-such-thing", 404),
        ("POST", "/api/v1/historical/AAPL", 405),  # the path is eager, the method is not
    ],
)
def test_any_other_request_imports_the_rest_first_and_is_answered_as_before(
    settings: Settings, method: str, path: str, status: int
) -> None:
    answers = []
    for eager in (EAGER_ROUTERS, ALL):
        app = create_app(settings, eager_routers=eager)
        with TestClient(app) as client:
            response = client.request(method, path)
        assert app.pending_routers == ()
        answers.append((response.status_code, response.headers.get("allow"), response.content))
    assert answers[0][0] == status
    assert answers[0] == answers[1]


def test_the_handler_imports_the_rest_before_a_snapstart_snapshot(settings: Settings) -> None:
    import api.handler

    assert api.handler.app.load_routers in snapstart._warm_ups
