"""Whole-universe backfills answer at once: `POST /api/v1/admin/backfill {}` over 10,000
tracked symbols records the run and hands its planning to the fan-out, answering 202
within a second; `GET /api/v1/admin/backfill/runs/{run_id}` follows it from
`planning` to its jobs counted by status. The fan-out (the real handler, invoked with
the payload the API hands over, as Lambda's asynchronous invocation would) plans and
records the jobs and sends them; here to a recording SQS stand-in, since moto spends
minutes of CPU on 10,000 messages (integration/test_fanout.py sends 10,000 through
moto, with its counters made constant-time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.auth import get_key_services
from api.routes.admin_backfill import planning_handoff
from devtools.lambda_context import FakeLambdaContext
from market_data.runs import PlanRequest
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.reliability.conftest import RecordingSender

UNIVERSE = 10_000
ANSWER_BOUND_S = 1.0


class LambdaInvokeStandIn:
    """What Lambda's asynchronous Invoke does with the payload: keeps it for later."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def hand_off(self, request: PlanRequest) -> None:
        self.events.append(request.to_event())


@pytest.fixture
def universe(pipeline_conn: psycopg.Connection[Any]) -> None:
    with (
        pipeline_conn.cursor() as cur,
        cur.copy("COPY symbols (symbol, asset_class, timeframes) FROM STDIN") as copy,
    ):
        for n in range(UNIVERSE):
            copy.write_row((f"S{n:05d}", AssetClass.STOCK.value, [Timeframe.D1.value]))


@pytest.fixture
def admin_api(
    pipeline_settings: Settings,
    key_services: Any,
    universe: None,
) -> Iterator[tuple[TestClient, LambdaInvokeStandIn]]:
    from api.app import create_app

    invoke = LambdaInvokeStandIn()
    app = create_app(pipeline_settings)
    app.dependency_overrides[get_key_services] = lambda: key_services
    app.dependency_overrides[planning_handoff] = lambda: invoke
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, invoke


@pytest.mark.slow  # 10,000 symbols tracked, planned and recorded
def test_a_whole_universe_backfill_answers_within_a_second_and_the_fanout_plans_it(
    admin_api: tuple[TestClient, LambdaInvokeStandIn],
    admin_key: str,
    handlers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, invoke = admin_api
    headers = {"X-API-Key": admin_key}
    client.get("/api/v1/status", headers=headers)  # warm: the first request builds the app
    started = time.monotonic()
    response = client.post("/api/v1/admin/backfill", json={}, headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert elapsed < ANSWER_BOUND_S, f"{elapsed:.2f}s"
    accepted = response.json()
    assert accepted["status"] == "planning" and accepted["jobs"] == []
    run_url = accepted["run_url"]
    assert run_url == f"/api/v1/admin/backfill/runs/{accepted['run_id']}"

    planning = client.get(run_url, headers=headers).json()
    assert (planning["status"], planning["jobs_total"], planning["planned_at"]) == (
        "planning", 0, None
    )  # fmt: skip

    [event] = invoke.events
    sqs = RecordingSender()
    monkeypatch.setattr(handlers.fanout, "_sqs", lambda endpoint_url: sqs)
    result = handlers.fanout.lambda_handler(event, FakeLambdaContext())
    assert result["planned"] and result["jobs"] == UNIVERSE == result["enqueued"] == sqs.sent
    # Lambda retries an asynchronous invocation that failed: planning again changes nothing.
    with pytest.raises(ValueError, match="not waiting to be planned"):
        handlers.fanout.lambda_handler(event, FakeLambdaContext())

    running = client.get(run_url, headers=headers).json()
    assert running["status"] == "running"
    assert running["jobs_total"] == running["queued"] == UNIVERSE
    assert running["succeeded"] == running["failed"] == running["running"] == 0
    missing = client.get(
        "/api/v1/admin/backfill/runs/7d1c0f5e-0000-4000-8000-000000000000", headers=headers
    )
    assert missing.status_code == 404
