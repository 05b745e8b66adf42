"""The `mdw` command line against the real app: bar files parse back to the same bars."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.repositories.symbols import add_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import Bar, Client
from mdw_client.cli import main
from tests.client.conftest import Sleeps
from tests.helpers import seed_series, utc

FLOATS = {"open", "high", "low", "close", "volume", "vwap", "quality_score"}
BOOLS = {"validated", "gap_detected", "volume_anomaly"}
WINDOW = ["--start", "2024-01-01", "--end", "2024-03-31"]


class Run:
    """`mdw ...` in-process over the app; returns (exit status, stdout, stderr)."""

    def __init__(self, http: TestClient, sleeps: Sleeps, api_key: str | None = None) -> None:
        self.http, self.sleeps, self.api_key = http, sleeps, api_key

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        key = ["--api-key", self.api_key] if self.api_key else []
        status = main([*key, *argv], http_client=self.http, stdout=out, stderr=err,
                      sleep=self.sleeps)  # fmt: skip
        return status, out.getvalue(), err.getvalue()


@pytest.fixture
def mdw_cli(client: TestClient, sleeps: Sleeps) -> Run:
    return Run(client, sleeps)


@pytest.fixture
def admin_cli(keyed_client: TestClient, admin_key: str, sleeps: Sleeps) -> Run:
    return Run(keyed_client, sleeps, admin_key)


@pytest.fixture
def series(conn: Connection[Any]) -> None:
    seed_series(conn, "AAPL")
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, utc(2024, 1, 1), utc(2024, 4, 1))


def csv_bar(row: dict[str, str]) -> Bar:
    def value(name: str, text: str) -> Any:
        if text == "":
            return None
        if name in FLOATS:
            return float(text)
        if name in BOOLS:
            return {"true": True, "false": False}[text]
        if name == "trades":
            return int(text)
        if name in ("time", "fetched_at"):
            return datetime.fromisoformat(text)
        return text

    return Bar(**{name: value(name, text) for name, text in row.items()})


def test_bars_as_csv_parse_back_to_the_same_bars(
    mdw_cli: Run, mdw: Client, series: None, tmp_path: Path
) -> None:
    target = tmp_path / "bars.csv"
    status, _, err = mdw_cli("bars", "AAPL", "BTC-USD", "--timeframe", "1h", *WINDOW,
                               "--format", "csv", "-o", str(target))  # fmt: skip

    assert status == 0, err
    expected = mdw.bars(["AAPL", "BTC-USD"], "1h", start="2024-01-01", end="2024-03-31")
    with target.open(newline="") as handle:
        parsed = [csv_bar(row) for row in csv.DictReader(handle)]
    assert parsed == list(expected) and len(parsed) == 91 * 24
    assert "no bars for AAPL" in err  # no hourly AAPL bars were seeded
    assert f"{len(parsed):,} bars written to {target}" in err

    frame = pd.read_csv(target, parse_dates=["time", "fetched_at"]).set_index("time")
    assert str(frame.index.tz) == "UTC"
    assert frame["close"].tolist() == expected.to_pandas()["close"].tolist()


def test_bars_as_csv_on_stdout_by_default_when_piped(
    mdw_cli: Run, mdw: Client, series: None
) -> None:
    status, out, _ = mdw_cli("bars", "AAPL", *WINDOW)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("time,symbol,open,high,low,close,volume")
    assert len(lines) - 1 == len(mdw.bars("AAPL", start="2024-01-01", end="2024-03-31")) == 61


def test_bars_as_parquet_parse_back_to_the_same_bars(
    mdw_cli: Run, mdw: Client, series: None, tmp_path: Path
) -> None:
    target = tmp_path / "bars.parquet"
    status, _, err = mdw_cli("bars", "BTC-USD", "AAPL", "-t", "1d", *WINDOW, "-o", str(target))
    assert status == 0, err  # the format follows the suffix

    expected = mdw.bars(["BTC-USD", "AAPL"], start="2024-01-01", end="2024-03-31")
    table = pq.read_table(target)
    assert table.schema == expected.to_arrow().schema
    assert [Bar(**row) for row in table.to_pylist()] == list(expected)
    frame = pd.read_parquet(target).set_index("time")
    assert str(frame.index.tz) == "UTC" and len(frame) == len(expected) == 61 + 0
    assert "no bars for BTC-USD" in err


def test_parquet_needs_an_output_file(mdw_cli: Run, series: None) -> None:
    status, _, err = mdw_cli("bars", "AAPL", "--format", "parquet")
    assert status == 2 and "needs -o FILE" in err


def test_bars_as_a_table_and_as_json(mdw_cli: Run, series: None) -> None:
    status, out, _ = mdw_cli("bars", "AAPL", "--start", "2024-01-02", "--end", "2024-01-03",
                             "--format", "table")  # fmt: skip
    assert status == 0
    header, first, second = out.splitlines()
    assert header.split() == ["symbol", "time", "open", "high", "low", "close", "volume",
                              "vwap", "trades"]  # fmt: skip
    assert first.startswith("AAPL    2024-01-02T05:00:00Z")
    assert second.split()[1] == "2024-01-03T05:00:00Z"

    status, out, _ = mdw_cli("bars", "AAPL", "--start", "2024-01-02", "--end", "2024-01-03",
                             "--format", "json")  # fmt: skip
    records = json.loads(out)
    assert [r["time"] for r in records] == ["2024-01-02T05:00:00Z", "2024-01-03T05:00:00Z"]
    assert records[0]["symbol"] == "AAPL" and isinstance(records[0]["close"], float)


def test_a_long_download_draws_a_progress_bar(mdw_cli: Run, series: None) -> None:
    status, _, err = mdw_cli("--progress", "bars", "BTC-USD", "-t", "1h", *WINDOW)
    assert status == 0
    final = err.split("\r")[-1]
    assert "[" + "#" * 28 + "] 100%" in final and "2,184 bars" in final


def test_the_adjustment_and_quality_options_reach_the_server(
    client: TestClient, sleeps: Sleeps, series: None
) -> None:
    sent: list[dict[str, str]] = []
    client.event_hooks["request"].append(lambda r: sent.append(dict(r.url.params)))
    status, _, _ = Run(client, sleeps)("bars", "AAPL", *WINDOW, "--all-bars", "--adjustment", "raw")
    client.event_hooks["request"].clear()
    assert status == 0
    assert sent[0]["adjustment"] == "raw"
    assert (sent[0]["validated_only"], sent[0]["min_quality"]) == ("false", "0.0")


def test_errors_are_the_servers_problem_on_stderr(mdw_cli: Run, series: None) -> None:
    status, out, err = mdw_cli("bars", "ZZZZ")
    assert (status, out) == (1, "")
    assert err == "mdw: 404 Not Found: symbol ZZZZ is not tracked\n"

    status, _, err = mdw_cli("bars", "AAPL", "--timeframe", "7x", "--min-quality", "3")
    assert status == 1 and err.startswith("mdw: 422 Unprocessable")
    assert "timeframe" in err and "min_quality" in err

    status, _, err = mdw_cli("bars", "AAPL", "--max-bars", "10", *WINDOW)
    assert status == 1 and "max_bars=10" in err


def test_latest_status_health_metrics_and_symbols(
    mdw_cli: Run, series: None, conn: Connection[Any]
) -> None:
    now = datetime.now(UTC)
    seed_series(conn, "ETH-USD", AssetClass.CRYPTO, Timeframe.H1, now - timedelta(days=2), now)
    newest = conn.execute("SELECT max(time) FROM bars WHERE symbol = 'ETH-USD'").fetchone()[0]
    status, out, err = mdw_cli("latest", "AAPL", "ETH-USD", "--timeframe", "1h")
    assert status == 0, err
    assert out.splitlines()[0].split() == ["symbol", "time", "open", "high", "low", "close",
                                           "volume", "age_hours"]  # fmt: skip
    (only,) = out.splitlines()[1:]
    assert only.startswith("ETH-USD  " + newest.isoformat().replace("+00:00", "Z"))
    assert float(only.split()[-1]) < 2
    assert "no 1h bar for AAPL" in err

    status, out, _ = mdw_cli("latest", "AAPL", "--json")
    assert json.loads(out)[0]["time"] == "2024-12-31T05:00:00Z"

    total = conn.execute("SELECT count(*) FROM bars").fetchone()[0]
    status, out, _ = mdw_cli("status")
    assert status == 0 and f"{total:,} (100.00% validated)" in out and "scheduler" in out
    status, out, _ = mdw_cli("status", "--json")
    assert json.loads(out)["database"]["total_records"] == total

    assert json.loads(mdw_cli("health")[1])["status"] == "healthy"
    assert json.loads(mdw_cli("metrics")[1])["scheduler"]["schedule"] == "02:00 UTC daily"
    status, out, _ = mdw_cli("symbols")
    assert [line.split()[0] for line in out.splitlines()] == ["symbol", "AAPL", "BTC-USD",
                                                              "ETH-USD"]  # fmt: skip


def test_keys_from_the_command_line(admin_cli: Run, keyed_client: TestClient) -> None:
    status, out, err = admin_cli("keys", "create", "dashboards", "--scope", "read")
    assert status == 0 and "shown once" in err
    secret = out.strip()
    assert secret.startswith("mdw_")
    assert Client(http_client=keyed_client, api_key=secret).symbols().symbols == []

    status, out, _ = admin_cli("keys", "list", "--json")
    key_id = next(k["id"] for k in json.loads(out) if k["name"] == "dashboards")
    assert secret not in out
    assert "dashboards" in admin_cli("keys", "list")[1]
    assert json.loads(admin_cli("keys", "rename", key_id, "grafana")[1])["name"] == "grafana"
    assert json.loads(admin_cli("keys", "revoke", key_id)[1])["status"] == "revoked"
    assert json.loads(admin_cli("keys", "restore", key_id)[1])["active"] is True
    assert json.loads(admin_cli("keys", "show", key_id)[1])["id"] == key_id
    assert admin_cli("keys", "delete", key_id)[0] == 0
    status, _, err = admin_cli("keys", "show", key_id)
    assert status == 1 and "404" in err

    status, out, _ = admin_cli("keys", "create", "ops", "--scope", "read", "--scope", "admin",
                               "--rate-limit", "60", "--json")  # fmt: skip
    created = json.loads(out)
    assert created["scopes"] == ["read", "admin"] and created["api_key"].startswith("mdw_")
    admin_id = next(k["id"] for k in json.loads(admin_cli("keys", "list", "--json")[1])
                    if k["name"] == "test admin")  # fmt: skip
    status, out, _ = admin_cli("keys", "audit", admin_id, "--json")
    assert "create_api_key" in {e["action"] for e in json.loads(out)}


def test_tracked_symbols_from_the_command_line(admin_cli: Run) -> None:
    status, out, _ = admin_cli("tracked", "add", "ORCL", "--asset-class", "stock",
                               "--timeframes", "1d,1h")  # fmt: skip
    assert status == 0 and json.loads(out)["timeframes"] == ["1h", "1d"]
    assert admin_cli("tracked", "add", "ORCL", "--asset-class", "stock")[2].startswith("mdw: 409")
    assert "ORCL" in admin_cli("tracked", "list")[1]
    assert json.loads(admin_cli("tracked", "timeframes", "ORCL", "1w")[1])["timeframes"] == ["1w"]
    assert json.loads(admin_cli("tracked", "deactivate", "ORCL")[1])["active"] is False
    assert json.loads(admin_cli("tracked", "activate", "ORCL")[1])["active"] is True
    assert json.loads(admin_cli("tracked", "show", "ORCL")[1])["stats"]["records"] == 0
    listed = json.loads(admin_cli("tracked", "list", "--stats", "--json")[1])
    assert listed[0]["stats"]["series"] == []


def test_backfill_waits_with_a_progress_bar(
    admin_cli: Run, conn: Connection[Any], drain: Any, sleeps: Sleeps
) -> None:
    add_symbols(conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])
    sleeps.hook = lambda seconds: drain()
    status, out, err = admin_cli("--progress", "backfill", "AAPL", "BTC-USD", "--timeframes",
                                 "1d", "--start", "2024-03-04", "--end", "2024-03-08", "--wait",
                                 "--poll", "1")  # fmt: skip

    assert status == 0, err
    assert err.startswith("run ") and "2 jobs queued" in err
    assert "100%" in err.split("\r")[-1] and "2 jobs, 10 bars" in err.split("\r")[-1]
    jobs = json.loads(out)
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]
    assert sleeps == [1.0]
    job = json.loads(admin_cli("job", jobs[0]["job_id"])[1])
    assert job["bars_upserted"] == 5

    status, out, _ = admin_cli("backfill", "AAPL", "--timeframes", "1d", "--start", "2024-03-04")
    assert status == 0 and json.loads(out)["jobs_total"] == 1  # without --wait: the receipt


def test_the_installed_mdw_command_talks_to_a_server_on_loopback(
    live_api: str, conn: Connection[Any], tmp_path: Path
) -> None:
    seed_series(conn, "AAPL", start=utc(2024, 1, 1), end=utc(2024, 2, 1))
    mdw = shutil.which("mdw", path=str(Path(sys.executable).parent))
    assert mdw, "the mdw entry point is not installed: pip install -e ./clients/python"
    env = {**os.environ, "MDW_BASE_URL": live_api}
    env.pop("MDW_API_KEY", None)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([mdw, *argv], env=env, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip

    status = run("status")
    assert status.returncode == 0, status.stderr
    assert "21" in status.stdout
    target = tmp_path / "aapl.csv"
    done = run("bars", "AAPL", "--start", "2024-01-01", "--end", "2024-01-31", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert len(target.read_text().splitlines()) == 22
    assert run("--version").stdout.startswith("mdw ")
    refused = run("--base-url", "http://127.0.0.1:9", "--retries", "0", "status")
    assert refused.returncode == 1 and "is the API running" in refused.stderr
