"""Bulk exports through the client: queued with an estimate, waited for, downloaded."""

from __future__ import annotations

import io
from types import ModuleType

import pyarrow.parquet as pq
import pytest
import requests
from fastapi.testclient import TestClient

from market_data.settings import Settings
from mdw_client import Client, ValidationError
from tests.lake.test_exports import api, export_handler, export_settings  # noqa: F401
from tests.pipeline import deliver


def test_an_export_is_queued_waited_for_and_downloaded(
    api: TestClient,  # noqa: F811
    export_handler: ModuleType,  # noqa: F811
    export_settings: Settings,  # noqa: F811
) -> None:
    mdw = Client(http_client=api)
    accepted = mdw.export(["AAPL"], timeframes=["1d", "1h"], start="2024-02-01", end="2024-02-29")
    assert accepted.status == "queued" and accepted.estimate.rows > 0

    deliver(export_handler, str(export_settings.export_queue_url))
    status = mdw.wait_export(accepted.id, timeout=5)

    assert status.done and status.status == "succeeded"
    assert status.request.symbols == ["AAPL"] and status.request.format == "parquet"
    assert [f.timeframe for f in status.files] == ["1d", "1h"]
    for file in status.files:
        table = pq.read_table(io.BytesIO(requests.get(file.url, timeout=10).content))
        assert table.num_rows == file.rows
        assert set(table.column("symbol").to_pylist()) == {"AAPL"}
    assert status.rows == sum(f.rows for f in status.files) <= accepted.estimate.rows


def test_an_oversized_export_raises_with_the_estimate(
    api: TestClient,  # noqa: F811
    export_settings: Settings,  # noqa: F811
) -> None:
    api.app.state.settings = export_settings.model_copy(update={"export_max_bytes": 10})  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as raised:
        Client(http_client=api).export("all", timeframes=["1d"])
    assert raised.value.extensions["estimate"]["bytes"] > 10
