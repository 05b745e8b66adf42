"""The dashboard as AWS serves it: from the API Lambda, behind the API Gateway stage."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event


@pytest.fixture
def handler(conn: Connection[Any]) -> Iterator[Any]:
    """The API Lambda handler, as a fresh Lambda process runs it: with an event loop of
    its own (Mangum asks asyncio for the current one; the browser tests in this process
    leave none behind when Playwright shuts down)."""
    from api.handler import lambda_handler

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield lambda_handler
    asyncio.set_event_loop(None)
    loop.close()


def staged_get(handler: Any, path: str) -> dict[str, Any]:
    """GET /prod{path} as API Gateway hands it to the Lambda (the stage stripped from path)."""
    event = copy.deepcopy(load_event("api_docs"))
    event["path"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    response: dict[str, Any] = handler(event, FakeLambdaContext())
    return response


def test_dashboard_files_are_text_the_gateway_passes_through(handler: Any) -> None:
    for path, content_type in [
        ("/dashboard/app.js", "javascript"),
        ("/dashboard/chart.js", "javascript"),
        ("/dashboard/api.js", "javascript"),
        ("/dashboard/styles.css", "text/css"),
    ]:
        event = copy.deepcopy(load_event("api_health"))
        event["path"] = event["requestContext"]["path"] = path
        event["requestContext"].pop("stage", None)
        response = handler(event, FakeLambdaContext())
        assert response["statusCode"] == 200, path
        assert content_type in response["headers"]["content-type"]
        assert response["isBase64Encoded"] is False  # no binary media type needed


def test_dashboard_is_served_behind_the_stage_prefix(handler: Any) -> None:
    page = staged_get(handler, "/dashboard/")
    assert page["statusCode"] == 200
    assert '<script type="module" src="./app.js">' in page["body"]
    assert staged_get(handler, "/dashboard/app.js")["statusCode"] == 200
    redirect = staged_get(handler, "/dashboard")
    assert redirect["headers"]["location"].endswith("/prod/dashboard/")
