"""Cold start: importing each handler in a fresh interpreter, next to its bare framework."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.stats import Row

ROOT = Path(__file__).resolve().parents[1]
# What each Lambda imports at start, and the floor it is compared with.
HANDLERS = {
    "api": ("api.handler", "fastapi, mangum", 1.3),
    "fanout": ("fanout.handler", "boto3, psycopg", 1.5),
    "backfill": ("backfill.handler", "boto3, psycopg", 1.5),
    "migrate": ("migrate.handler", "psycopg", None),
}
_PROBE = (
    "import time, sys; t = time.perf_counter(); import {modules}; "
    "sys.stdout.write(repr(time.perf_counter() - t))"
)


def import_seconds(modules: str, runs: int) -> float:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        "PYTHONDONTWRITEBYTECODE": "0",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://bench@127.0.0.1/bench"),
    }
    samples = []
    for _ in range(runs + 1):  # the first run warms the bytecode cache, as a deployed zip has
        out = subprocess.run(
            [sys.executable, "-c", _PROBE.format(modules=modules)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        samples.append(float(out.stdout))
    return statistics.median(samples[1:])


def top_imports(module: str, limit: int = 8) -> list[tuple[int, str]]:
    """The heaviest cumulative imports (python -X importtime), for the profile section."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    rows = []
    for line in out.stderr.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    return sorted(rows, reverse=True)[1 : limit + 1]  # [0] is the module itself


def run(runs: int) -> tuple[list[Row], list[str]]:
    rows, notes = [], []
    for name, (module, floor_modules, goal) in HANDLERS.items():
        if not (ROOT / "functions" / name / "handler.py").exists():
            continue
        value = import_seconds(module, runs) * 1000
        floor = import_seconds(floor_modules, runs) * 1000
        met = goal is None or value <= goal * floor
        goal_text = f"<= {goal}x {floor_modules}" if goal else f"reported vs {floor_modules}"
        rows.append(
            Row.judged(
                "cold start", f"import {module}", value, floor, "ms", goal_text, met, "{:.0f}"
            )
        )
        heavy = ", ".join(f"{n} {us / 1000:.0f} ms" for us, n in top_imports(module)[:5])
        notes.append(f"- `{module}` heaviest cumulative imports: {heavy}")
    return rows, notes
