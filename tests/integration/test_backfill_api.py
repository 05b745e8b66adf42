"""On-demand backfill through the admin API, the SQS queue (moto) and the worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from api.auth import require_admin
from devtools.run_backfill import drain_queue
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import build_worker

URL = "/api/v1/admin/backfill"


@pytest.fixture
def admin(pipeline_settings: Settings, conn: Connection[Any]) -> Iterator[TestClient]:
    """The API on the emulated queue, the admin check passed (the key store has its own tests)."""
    from api.app import create_app

    app = create_app(pipeline_settings)
    app.dependency_overrides[require_admin] = lambda: None
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def drain(pipeline_settings: Settings, backfill_queue: str) -> Any:
    worker = build_worker(pipeline_settings)
    sqs = boto3.client("sqs")
    return lambda: drain_queue(sqs, backfill_queue, worker.process_message)


@pytest.fixture
def tracked(conn: Connection[Any]) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])


def test_an_admin_backfill_is_queued_worked_off_and_reported_by_status_and_metrics(
    admin: TestClient, tracked: None, drain: Any
) -> None:
    response = admin.post(
        URL,
        json={"symbols": ["AAPL", "btcusd"], "timeframes": ["1d"],
              "start": "2024-03-04", "end": "2024-03-08"},
    )  # fmt: skip

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["jobs_total"] == 2 and accepted["not_enqueued"] == []
    assert {(j["symbol"], j["timeframe"]) for j in accepted["jobs"]} == {
        ("AAPL", "1d"), ("BTC-USD", "1d"),
    }  # fmt: skip
    assert {j["end"] for j in accepted["jobs"]} == {"2024-03-09T00:00:00Z"}  # end is inclusive
    job_id = accepted["job_ids"][0]
    queued = admin.get(f"{URL}/{job_id}").json()
    assert queued["status"] == "queued" and queued["run_id"] == accepted["run_id"]
    assert admin.get("/api/v1/status").json()["data_quality"]["run_state"] == "running"

    report = drain()

    assert report.succeeded == 2
    done = admin.get(f"{URL}/{job_id}").json()
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["bars_upserted"] == 5 and done["finished_at"] is not None
    last = admin.get("/api/v1/metrics").json()["last_backfill"]
    assert last["run_id"] == accepted["run_id"] and last["trigger"] == "admin"
    assert last["status"] == "succeeded" and last["successful_symbols"] == 2
    assert last["total_records_imported"] == 10 and last["failed_symbols"] == 0
    status = admin.get("/api/v1/status").json()
    assert status["data_quality"]["run_state"] == "idle"
    assert status["data_quality"]["scheduler_status"] == "running"  # the schedule is on
    assert status["database"]["total_records"] == 10


def test_a_backfill_naming_only_symbols_plans_each_of_their_timeframes(
    admin: TestClient, tracked: None
) -> None:
    response = admin.post(URL, json={"symbols": ["AAPL"]})

    assert response.status_code == 202
    jobs = response.json()["jobs"]
    assert {j["timeframe"] for j in jobs} == {t.value for t in Timeframe if t is not Timeframe.M1}
    assert {j["symbol"] for j in jobs} == {"AAPL"}
    # Nothing stored yet: the initial history, intraday in jobs of at most a month.
    assert len(jobs) == 2 + 5 * 3


def test_an_untracked_symbol_is_a_422_problem_that_names_it_and_queues_nothing(
    admin: TestClient, tracked: None, backfill_queue: str, conn: Connection[Any]
) -> None:
    response = admin.post(URL, json={"symbols": ["AAPL", "NOPE"]})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["symbols"] == ["NOPE"] and "NOPE" in problem["detail"]
    depth = boto3.client("sqs").get_queue_attributes(
        QueueUrl=backfill_queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "0"
    assert conn.execute("SELECT count(*) FROM backfill_runs").fetchone() == (0,)


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"timeframes": ["2m"]}, "timeframes"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["AA PL"]}, "symbols"),
        ({"since": "2024-01-01"}, "since"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2024-03-08", "end": "2024-03-01"}, "start must be before end"),
    ],
)
def test_a_bad_request_body_is_a_422_problem(
    admin: TestClient, tracked: None, body: dict[str, Any], mentions: str
) -> None:
    response = admin.post(URL, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert mentions in response.json()["detail"]


def test_an_unknown_job_is_a_404_problem_and_a_malformed_id_a_422(admin: TestClient) -> None:
    missing = admin.get(f"{URL}/7d1c0f5e-0000-4000-8000-000000000000")
    malformed = admin.get(f"{URL}/not-a-uuid")

    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == "application/problem+json"


def test_starting_a_backfill_needs_an_admin_key(client: TestClient, backfill_queue: str) -> None:
    response = client.post(URL, json={})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_timestamp_end_is_inclusive_as_in_the_historical_endpoint(
    admin: TestClient, tracked: None
) -> None:
    response = admin.post(
        URL,
        json={"symbols": ["AAPL"], "timeframes": ["1d"], "start": "2024-03-04",
              "end": "2024-03-08T05:00:00Z"},
    )  # fmt: skip

    assert response.status_code == 202
    [job] = response.json()["jobs"]
    assert job["end"] == "2024-03-08T05:00:00.000001Z"
