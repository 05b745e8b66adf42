"""The READMEs' Python quick starts, run as written against the API on loopback.

The warehouse is seeded the way `make dev` fills it (daily bars since
2020-01-01, intraday bars for the last 90 days), and each code block runs in a
fresh interpreter with only MDW_BASE_URL pointing at the server, as a user's
script would against `make dev` on its default port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

ROOT = Path(__file__).resolve().parents[2]
CLIENT_README = ROOT / "clients" / "python" / "README.md"
README = ROOT / "README.md"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.fixture
def like_make_dev(conn: Connection[Any]) -> None:
    now = datetime.now(UTC)
    for symbol in ("AAPL", "MSFT"):
        seed_series(conn, symbol, start=utc(2020, 1, 1), end=now)
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, now - timedelta(days=90), now)


def run(code: str, base_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MDW_BASE_URL": base_url}
    env.pop("MDW_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        check=False, cwd=ROOT,
    )  # fmt: skip


def test_the_client_readme_quick_start_runs_as_written(
    live_api: str, like_make_dev: None, conn: Connection[Any]
) -> None:
    (quick_start,) = python_blocks(CLIENT_README)
    assert len(quick_start.strip().splitlines()) <= 10

    done = run(quick_start, live_api)

    assert done.returncode == 0, done.stderr
    total = conn.execute("SELECT count(*) FROM bars").fetchone()
    assert total is not None
    lines = done.stdout.splitlines()
    assert lines[0] == f"{total[0]} bars in the warehouse"
    assert any(line.startswith("AAPL") for line in lines)
    assert any(line.startswith("MSFT") for line in lines)
    assert "shape: (3, 3)" in done.stdout and "datetime[μs, UTC]" in done.stdout


def test_the_readmes_python_client_section_runs_as_written(
    live_api: str, like_make_dev: None
) -> None:
    (snippet,) = python_blocks(README)
    done = run(snippet, live_api)
    assert done.returncode == 0, done.stderr
    assert "AAPL" in done.stdout and "MSFT" in done.stdout
