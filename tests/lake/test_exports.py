"""Async exports end to end: POST -> SQS -> the export Lambda -> S3 -> presigned URL (moto)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import requests
from fastapi.testclient import TestClient
from psycopg import Connection

from devtools.run_backfill import drain_queue
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import utc
from tests.lake.support import as_float32, create_bucket
from tests.pipeline import deliver, launch

EXPORTS_BUCKET = "mdw-exports-test"


@pytest.fixture
def export_settings(
    handlers: Any, pipeline_conn: Connection[Any], pipeline_settings: Settings, backfill_queue: str
) -> Iterator[Settings]:
    """A warehouse with AAPL and BTC-USD (1d, 1h; January to March 2024, with AAPL's
    dividends), an exports bucket and queue, and the export handler on these settings."""
    from export import handler as export_handler

    sqs = boto3.client("sqs")
    configured = pipeline_settings.model_copy(
        update={
            "exports_bucket": create_bucket(EXPORTS_BUCKET),
            "lake_bucket": create_bucket("mdw-lake-export-test"),
            "export_queue_url": sqs.create_queue(QueueName="exports")["QueueUrl"],
        }
    )
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])
    launch(
        configured, symbols=["AAPL", "BTC-USD"], timeframes=[Timeframe.D1, Timeframe.H1],
        start=utc(2024, 1, 1), end=utc(2024, 3, 31),
    )  # fmt: skip
    drain_queue(sqs, backfill_queue, handlers.backfill.worker().process_message)
    export_handler.use_settings(configured)
    yield configured
    export_handler.use_settings(None)


@pytest.fixture
def api(export_settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(export_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def export_handler(export_settings: Settings) -> ModuleType:
    from export import handler

    return handler


def run_export(
    api: TestClient, handler: ModuleType, settings: Settings, body: dict[str, Any]
) -> Any:
    accepted = api.post("/api/v1/exports", json=body)
    assert accepted.status_code == 202, accepted.text
    queued = api.get(f"/api/v1/exports/{accepted.json()['id']}").json()
    assert queued["status"] == "queued" and queued["files"] == []
    while deliver(handler, str(settings.export_queue_url)) or _pending(settings):
        pass
    status = api.get(accepted.json()["status_url"])
    assert status.status_code == 200
    return accepted.json(), status.json()


def _pending(settings: Settings) -> bool:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=str(settings.export_queue_url), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) > 0


def api_rows(api: TestClient, symbol: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the historical endpoint for the query, cursor followed."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(
            f"/api/v1/historical/{symbol}",
            params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        rows.extend(body["data"])
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _as_exported(row: dict[str, Any]) -> dict[str, Any]:
    """An API row as the Parquet file holds it: the quality score is a float32 there (as in
    PostgreSQL), which the API prints in its shortest form (0.95, not 0.949999988...)."""
    return {**row, "quality_score": as_float32(row["quality_score"])}


def test_a_parquet_export_of_an_adjusted_view_equals_the_api_pages(
    api: TestClient,
    export_handler: ModuleType,
    export_settings: Settings,
    pipeline_conn: Connection[Any],
) -> None:
    # One flagged bar, so a quality score that float32 cannot hold exactly is compared too.
    pipeline_conn.execute(
        "UPDATE bars SET quality_score = 0.95 WHERE symbol = 'BTC-USD' AND timeframe = '1h'"
        " AND time = '2024-02-01T10:00Z'"
    )
    body = {
        "symbols": ["AAPL", "BTC-USD"], "timeframes": ["1h", "1d"],
        "start": "2024-01-15", "end": "2024-03-20", "adjustment": "all",
    }  # fmt: skip
    accepted, status = run_export(api, export_handler, export_settings, body)

    assert status["status"] == "succeeded"
    assert [f["timeframe"] for f in status["files"]] == ["1h", "1d"]
    expected_total = 0
    for file in status["files"]:
        download = requests.get(file["url"], timeout=10)
        assert download.status_code == 200
        assert len(download.content) == file["bytes"]
        exported = pq.read_table(io.BytesIO(download.content)).to_pylist()
        expected = [
            _as_exported(row)
            for symbol in ("AAPL", "BTC-USD")
            for row in api_rows(
                api,
                symbol,
                {
                    "timeframe": file["timeframe"],
                    "start": body["start"],
                    "end": body["end"],
                    "adjustment": "all",
                },
            )
        ]
        assert [{k: _json_value(v) for k, v in r.items()} for r in exported] == expected
        assert file["rows"] == len(expected) > 0
        expected_total += len(expected)
    assert status["rows"] == expected_total
    # The estimate is made from the series statistics: an upper bound near the truth.
    assert expected_total <= accepted["estimate"]["rows"] <= expected_total * 1.2


def test_a_csv_export_has_the_api_csv_rows_with_their_symbol(
    api: TestClient, export_handler: ModuleType, export_settings: Settings
) -> None:
    body = {"symbols": ["AAPL"], "timeframes": ["1d"], "start": "2024-02-01", "format": "csv",
            "adjustment": "raw"}  # fmt: skip
    _, status = run_export(api, export_handler, export_settings, body)

    [file] = status["files"]
    exported = list(csv.reader(io.StringIO(requests.get(file["url"], timeout=10).text)))
    served = api.get(
        "/api/v1/historical/AAPL",
        params={"start": "2024-02-01", "format": "csv", "adjustment": "raw", "limit": 8000},
    )
    page = list(csv.reader(io.StringIO(served.text)))
    assert exported[0] == ["symbol", "timeframe", *page[0]]
    assert exported[1:] == [["AAPL", "1d", *row] for row in page[1:]]
    assert file["rows"] == len(page) - 1


def test_an_export_over_the_limit_is_refused_with_its_estimate(
    api: TestClient, export_settings: Settings
) -> None:
    api.app.state.settings = export_settings.model_copy(update={"export_max_rows": 100})  # type: ignore[attr-defined]
    refused = api.post("/api/v1/exports", json={"symbols": "all", "timeframes": ["1h"]})

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/export-too-large")
    assert problem["estimate"]["rows"] > 100 and problem["estimate"]["bytes"] > 0
    assert problem["limits"]["rows"] == 100
    assert not _pending(export_settings)


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        ({"symbols": ["AAPL"], "timeframes": ["2m"]}, "validation-error"),
        ({"symbols": [], "timeframes": ["1d"]}, "validation-error"),
        ({"symbols": ["AAPL"], "format": "xlsx"}, "validation-error"),
        ({"symbols": ["AAPL"], "surprise": 1}, "validation-error"),
        ({"symbols": ["AAPL"], "start": "2024-03-01", "end": "2024-02-01"}, "invalid-range"),
        ({"symbols": ["AAPL"], "start": "yesterday"}, "invalid-date"),
        ({"symbols": ["ZZZZ"]}, "unknown-symbols"),
        ({"symbols": ["AAPL"], "start": "1990-01-01", "end": "1990-02-01"}, "nothing-to-export"),
    ],
)
def test_a_malformed_export_request_is_a_problem(
    api: TestClient, export_settings: Settings, body: dict[str, Any], slug: str
) -> None:
    refused = api.post("/api/v1/exports", json=body)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(f"/{slug}")
    if slug == "nothing-to-export":
        assert refused.json()["estimate"] == {"rows": 0, "bytes": 0}


def test_an_unknown_export_is_a_404_problem(api: TestClient) -> None:
    missing = api.get("/api/v1/exports/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
