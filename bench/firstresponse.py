"""First response: process start -> handler imported -> first GET /api/v1/historical answered.

Each sample is a fresh interpreter (timed from the parent, from spawning it to
reading "ok" from it), against the bench database, through the Lambda handler
with an API Gateway event; the floor is bench.bare_app doing the same with
FastAPI + Mangum + psycopg + orjson only.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.stats import Row

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3

_HANDLER = """
import json, sys
from devtools.lambda_context import FakeLambdaContext
from api.handler import lambda_handler
response = lambda_handler(json.loads(sys.argv[1]), FakeLambdaContext())
assert response["statusCode"] == 200, response
sys.stdout.write("ok\\n")
sys.stdout.flush()
"""


def _one(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = ""
    for line in process.stdout:  # Powertools prints its metrics (EMF) first
        if line.strip() == "ok":
            break
    elapsed = time.perf_counter() - started
    process.communicate()
    if line.strip() != "ok" or process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed (exit {process.returncode})")
    return elapsed


def seconds(args: list[str], runs: int, database_url: str) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        # The warm-up run must be able to write the bytecode cache it is there to warm
        # (an inherited PYTHONDONTWRITEBYTECODE=1 would have every sample compile the
        # handler's modules from source, and the bare app has one module to compile).
        "PYTHONDONTWRITEBYTECODE": "0",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MarketData",
        "DATABASE_URL": database_url,
    }
    samples = [_one(args, env) for _ in range(runs + 1)]  # the first warms the bytecode cache
    return statistics.median(samples[1:])


def run(event: dict[str, Any], database_url: str, runs: int) -> Row:
    payload = json.dumps(event)
    value = seconds(["-c", _HANDLER, payload], runs, database_url) * 1000
    floor = seconds([str(ROOT / "bench" / "bare_app.py"), payload], runs, database_url) * 1000
    return Row.judged(
        "cold start",
        "first response: start, import, GET /api/v1/historical (252 bars)",
        value,
        floor,
        "ms",
        f"<= {GOAL}x bare FastAPI + Mangum + psycopg + orjson",
        value <= GOAL * floor,
        "{:.0f}",
    )
