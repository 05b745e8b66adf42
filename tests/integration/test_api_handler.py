"""The API Lambda invoked with the sample events in events/, as `sam local invoke` does."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from devtools.lambda_context import FakeLambdaContext, load_event
from tests.helpers import seed_series


@pytest.fixture
def handler(conn: Connection[Any]) -> Any:
    from api.handler import lambda_handler

    return lambda_handler


def test_health_event(handler: Any) -> None:
    response = handler(load_event("api_health"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "healthy"


def test_historical_event_returns_the_same_body_as_the_local_api(
    handler: Any, client: TestClient, conn: Connection[Any]
) -> None:
    seed_series(conn)
    event = load_event("api_historical")
    response = handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200
    local = client.get("/api/v1/historical/AAPL", params=event["queryStringParameters"])
    assert json.loads(response["body"]) == local.json()
    assert json.loads(response["body"])["count"] == 21


def test_bad_request_event_is_a_problem(handler: Any) -> None:
    response = handler(load_event("api_bad_request"), FakeLambdaContext())
    assert response["statusCode"] == 422
    assert response["headers"]["content-type"] == "application/problem+json"
    detail = json.loads(response["body"])["detail"]
    assert "timeframe" in detail


def test_docs_work_behind_the_stage_prefix(handler: Any) -> None:
    response = handler(load_event("api_docs"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert "/prod/openapi.json" in response["body"]
    openapi = dict(load_event("api_health"), path="/openapi.json")
    spec = json.loads(handler(openapi, FakeLambdaContext())["body"])
    assert "/api/v1/historical/{symbol}" in spec["paths"]
