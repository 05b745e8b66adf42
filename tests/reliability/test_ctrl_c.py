"""Ctrl-C is prompt: `make dev` (python -m devtools.dev, as the Makefile runs it) stops
within a few seconds while its worker is in the middle of jobs, leaves no process
behind, and leaves nothing half-written (the jobs it was working on stay unfinished:
the next start sends them again, devtools.dev.load_history).

The dev process runs against the test's PostgreSQL (DATABASE_URL) and the loopback
fake Polygon, whose answers take far longer than the bound: a worker that waited
for its jobs in flight could not stop in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.processes import stop_process
from market_data.symbols import DEFAULT_UNIVERSE, polygon_ticker
from tests.fake_polygon import API_KEY, FakePolygon, Reply, bar, page, utc

ROOT = Path(__file__).resolve().parents[2]
STOP_BOUND_S = 5.0
SLOW_S = 60.0  # each aggregates answer: longer than anyone would wait for Ctrl-C
# Every ticker of the universe make dev tracks: whichever jobs come first hang.
SLOW_TICKERS = tuple(
    polygon_ticker(symbol, asset_class)
    for asset_class, symbols in DEFAULT_UNIVERSE.items()
    for symbol in symbols
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def dev_environment(database_url: str, fake: FakePolygon) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "POLYGON"))}
    env.update(
        DATABASE_URL=database_url,
        PORT=str(free_port()),
        PYTHONPATH=f"{ROOT / 'functions'}{os.pathsep}{ROOT}",
        PYTHONUNBUFFERED="1",
        POLYGON_API_KEY=API_KEY,
        POLYGON_BASE_URL=fake.base_url,
        POLYGON_REQUESTS_PER_MINUTE="60000",
        POLYGON_TIMEOUT_S=str(SLOW_S * 2),
        POLYGON_MAX_RETRIES="0",
    )
    return env


@pytest.mark.slow
def test_ctrl_c_stops_make_dev_within_seconds_mid_drain_and_nothing_is_half_written(
    settings: Any, pipeline_conn: psycopg.Connection[Any], fake_polygon: FakePolygon
) -> None:
    week = [bar(utc(2024, 3, d, 5), 100.0, 101.0, 99.0, 100.5, 1_000) for d in range(4, 9)]
    for ticker in SLOW_TICKERS:
        fake_polygon.script(ticker, Reply(body=page(week), delay_s=SLOW_S))
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.dev"],
        cwd=ROOT,
        env=dev_environment(str(settings.database_url), fake_polygon),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: what is left of it can be found
    )
    try:
        deadline = time.monotonic() + 90
        while len(fake_polygon.requests) < 2:
            assert process.poll() is None, process.communicate()[0]
            if time.monotonic() > deadline:
                stop_process(process, timeout_s=1)
                raise AssertionError(f"the worker never started: {process.communicate()[0]}")
            time.sleep(0.1)
        # Two jobs are in flight (each waiting SLOW_S on the vendor), more are queued.
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=STOP_BOUND_S * 4)
        elapsed = time.monotonic() - started
    finally:
        stop_process(process, timeout_s=1)
    output = process.stdout.read() if process.stdout else ""
    assert elapsed < STOP_BOUND_S, f"took {elapsed:.1f}s to stop:\n{output[-3000:]}"
    assert process.returncode == 0, output[-3000:]
    assert "Stopped." in output
    time.sleep(0.5)
    assert not group_alive(process.pid), "a process of make dev is still running"

    # Nothing half-written: no job in flight stored a bar, every stored bar belongs
    # to a job that succeeded with it.
    assert pipeline_conn.execute("SELECT count(*) FROM bars").fetchone() == (0,)
    unfinished = pipeline_conn.execute(
        "SELECT count(*) FROM backfill_jobs WHERE status IN ('queued', 'running', 'retrying')"
    ).fetchone()
    assert unfinished is not None and unfinished[0] > 0
