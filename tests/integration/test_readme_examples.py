"""Every command in the README's "Using the API" and "Python client" sections, run as written.

Against the real app on a loopback port with the data `make dev` would hold for
these examples (the synthetic provider's bars: daily since 2020-01-01, intraday
for recent days), emulated DynamoDB and SQS, an admin key, and a worker that
consumes the backfill queue as make dev's does. Each `curl` runs in bash (so
`$(date ...)` is evaluated as a user's shell would) with only the host and port
changed, and must answer 2xx with data; each `mdw` command must exit 0 with
output; the handler one-liner must print a page of bars; the corporate actions must
list some. The README's Python
snippet is run by tests/client/test_quickstart.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import uvicorn

from devtools.local_aws import create_key_tables, free_port, start_aws
from devtools.run_backfill import create_backfill_queue, drain_queue
from market_data.keys.models import Scope
from market_data.keys.services import dynamo_services
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.actions import replace_actions
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAKE_DEV_URL = "http://127.0.0.1:8000"
SECTIONS = ("## Using the API", "## Python client", "## Invoking the handlers")


def readme_commands() -> list[str]:
    """The shell commands of the sections above, continuation lines joined."""
    text = README.read_text()
    commands: list[str] = []
    for heading in SECTIONS:
        section = text[text.index(heading) :]
        section = section[: section.find("\n## ", 1)]
        for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL):
            joined = re.sub(r"\\\n\s*", " ", block)
            # A command may span lines inside quotes (the handler one-liner).
            pending = ""
            for line in joined.splitlines():
                pending = f"{pending}\n{line}" if pending else line
                try:
                    shlex.split(pending, comments=True)
                except ValueError:  # an open quote: the command goes on
                    continue
                if pending.strip() and not pending.lstrip().startswith("#"):
                    commands.append(pending.strip())
                pending = ""
    return commands


@pytest.fixture(scope="module")
def make_dev_like(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The API as make dev serves it, its key store and queue emulated, a worker on the queue."""
    now = datetime.now(UTC)
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE bars, series_stats, symbols, backfill_jobs, backfill_runs")
        conn.execute("TRUNCATE vendor_circuit")
        provider = SyntheticProvider()
        for symbol in ("AAPL", "MSFT", "KO"):
            seed_series(conn, symbol, start=utc(2020, 1, 1), end=now)
            # The splits and dividends the worker stores with a stock's bars.
            actions = provider.fetch_actions(symbol, AssetClass.STOCK).actions
            replace_actions(conn, symbol, actions, provider.source, now)
        seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.H1, now - timedelta(days=90), now)
        seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.M5, now - timedelta(days=10), now)
        seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, now - timedelta(days=90), now)

    endpoint, moto = start_aws()  # its own emulator: no other test resets it meanwhile
    from pydantic import SecretStr

    from tests.key_fakes import TEST_PEPPER

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    configured = settings.model_copy(
        update={
            "aws_endpoint_url": endpoint,
            "api_key_pepper": SecretStr(TEST_PEPPER.decode()),
            "backfill_queue_url": create_backfill_queue(sqs),
        }
    )
    create_key_tables(configured)
    admin_key = (
        dynamo_services(configured)
        .admin.create(name="readme", scopes=[Scope.READ, Scope.ADMIN], created_by="tests")
        .api_key
    )

    from api.app import create_app
    from market_data.wiring import build_worker

    stop = threading.Event()
    worker = threading.Thread(
        target=drain_queue,
        args=(sqs, str(configured.backfill_queue_url), build_worker(configured).process_message),
        kwargs={"until": stop},
        daemon=True,
    )
    worker.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(configured), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "key": admin_key,
            "database_url": str(settings.database_url),
            "cwd": tmp_path_factory.mktemp("readme"),
        }
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        stop.set()
        worker.join(timeout=20)
        moto.stop()


def _run(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip


def _has_data(body: str, content_type: str) -> bool:
    if content_type.startswith("text/csv"):
        return len(body.strip().splitlines()) > 1  # a header and at least one bar
    document = json.loads(body)
    if "splits" in document:  # corporate actions
        return bool(document["splits"] or document["dividends"])
    if "data" in document:
        return bool(document["data"])
    if "bars" in document:  # many symbols
        return any(document["bars"].values())
    if "latest" in document:
        return bool(document["latest"])
    if "totals" in document:  # a gap report
        return bool(document["totals"]["expected"])
    if "symbols" in document and isinstance(document["symbols"], list):
        return bool(document["symbols"])
    return bool(document.get("symbol") or document.get("job_ids"))  # created or accepted


def test_the_readme_has_the_examples_this_test_runs() -> None:
    commands = readme_commands()
    assert sum(c.startswith("curl") for c in commands) == 14, commands
    assert sum(".venv/bin/mdw" in c for c in commands) == 3, commands
    assert any("lambda_handler" in c for c in commands)


def test_every_readme_example_answers_with_data_against_make_devs_warehouse(
    make_dev_like: dict[str, Any],
) -> None:
    live = make_dev_like
    mdw = str(Path(sys.executable).parent / "mdw")
    # A user's shell: none of the variables the test session set for itself.
    test_only = ("POWERTOOLS_", "DATABASE_URL", "AWS_ENDPOINT_URL", "MDW_", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(test_only)}
    env.update({"KEY": live["key"], "MDW_BASE_URL": live["url"]})
    failures: list[str] = []
    for command in readme_commands():
        if command.startswith("KEY="):
            continue  # the key make dev printed: KEY is set to a real one
        ran = command.replace(MAKE_DEV_URL, live["url"])
        ran = ran.replace("MDW_API_KEY=mdw_...", f"MDW_API_KEY={live['key']}")
        database = shlex.quote(live["database_url"])
        ran = ran.replace("DATABASE_URL=postgresql://...", f"DATABASE_URL={database}")
        ran = ran.replace(".venv/bin/mdw", mdw).replace(".venv/bin/python", sys.executable)
        cwd = ROOT if "lambda_handler" in command else live["cwd"]
        if command.startswith("curl"):
            body = live["cwd"] / "body"
            done = _run(f"{ran} -sS -o {body} -w '%{{http_code}} %{{content_type}}'", env, cwd)
            status, _, content_type = done.stdout.partition(" ")
            text = body.read_text() if body.exists() else ""
            if not status.startswith("2") or not _has_data(text, content_type):
                failures.append(f"{command}\n  -> {done.stdout} {done.stderr}\n  {text[:300]}")
            continue
        done = _run(ran, env, cwd)
        output = done.stdout + (Path(cwd, "aapl.csv").read_text() if "-o aapl.csv" in ran else "")
        if done.returncode != 0 or not output.strip():
            failures.append(f"{command}\n  -> exit {done.returncode}: {done.stderr[-500:]}")
        elif "lambda_handler" in command and '"symbol":"AAPL"' not in output:
            failures.append(f"{command}\n  -> no bars: {output[:300]}")
    assert failures == [], "\n\n".join(failures)
