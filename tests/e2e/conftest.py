"""Browser fixtures: the API in a subprocess, a second origin for the page, headless Chromium.

The browser is Debian's Chromium (scripts/ensure-browser.sh installs it); Playwright
only drives it. A missing browser fails the tests with the fix in the message:
the dashboard is part of the product, so its tests never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from devtools.local_aws import free_port
from devtools.processes import stop_process
from market_data.models import Assessment, StoredBar
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.bars import upsert_bars
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series

ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = ROOT / "functions" / "api" / "static"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# ---------- the browser ----------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Python package 'playwright' is missing: pip install -r requirements-dev.txt",
            pytrace=False,
        )
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}. Install Debian's package with "
            "scripts/ensure-browser.sh (as root: apt-get install -y chromium), "
            "or set CHROMIUM_PATH.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageErrors(list[str]):
    """Uncaught exceptions in the page: a broken script must fail the test."""


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: page_errors.append(str(exc)))
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# ---------- the servers ----------


class _DashboardFiles(SimpleHTTPRequestHandler):
    """Serves the dashboard's files at /dashboard/ from a second origin."""

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix("/dashboard"))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve_files(directory: Path) -> Iterator[str]:
    """A directory's files at /dashboard/ on an origin of their own (a free loopback port)."""
    handler = partial(_DashboardFiles, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """The dashboard's files on their own origin, as a CDN or a colleague's laptop would be."""
    with serve_files(STATIC_DIR) as origin:
        yield origin


@dataclass(frozen=True)
class LiveApi:
    url: str

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


@contextmanager
def serve_api(settings: Settings, log_dir: Path, **environment: str) -> Iterator[LiveApi]:
    """uvicorn serving the real app on a free loopback port, against the test database,
    with these environment variables on top (CORS_ALLOW_ORIGINS, ...)."""
    port = free_port()
    log_path = log_dir / "api.log"
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        **environment,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "devtools.serve:app_from_environment"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log_path)
        yield LiveApi(url)
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def live_api(
    settings: Settings, static_site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """The API for the dashboard tests; pages on the static_site origin may read it."""
    with serve_api(
        settings, tmp_path_factory.mktemp("uvicorn"), CORS_ALLOW_ORIGINS=static_site
    ) as api:
        yield api


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"uvicorn did not answer within 60 s:\n{log_path.read_text()[-3000:]}")


# ---------- the data ----------

FLAGGED = Assessment(validated=False, quality_score=0.6, notes=("close outside high-low",))
LOW_QUALITY = Assessment(validated=True, quality_score=0.7, notes=("volume spike",))
GAP = Assessment(validated=True, quality_score=0.95, gap_detected=True, notes=("missing bars",))


def mark_bars(
    conn: psycopg.Connection[Any],
    symbol: str,
    asset_class: AssetClass,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    verdicts: dict[int, Assessment],
) -> None:
    """Re-store some bars (by position in the series) with a validation verdict."""
    provider = SyntheticProvider()
    bars = provider.fetch_bars(symbol, asset_class, timeframe, start, end).bars
    fetched_at = datetime.now(UTC)
    upsert_bars(
        conn,
        symbol,
        timeframe,
        (StoredBar(bars[i], provider.source, v, fetched_at) for i, v in verdicts.items()),
    )


def _record_nightly_run(conn: psycopg.Connection[Any], now: datetime) -> None:
    """Last night's run: five jobs succeeded, ETH-USD failed."""
    started = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if started > now:
        started -= timedelta(days=1)
    run_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO backfill_runs (id, trigger, started_at, jobs_total) "
        "VALUES (%s, 'schedule', %s, 6)",
        (run_id, started),
    )
    jobs = [("AAPL", 0), ("MSFT", 0), ("SPY", 0), ("BTC-USD", 0), ("BTC-USD", 0), ("ETH-USD", 1)]
    for symbol, failed in jobs:
        conn.execute(
            "INSERT INTO backfill_jobs (id, run_id, symbol, timeframe, range_start, range_end,"
            " status, attempts, bars_upserted, error, finished_at)"
            " VALUES (%s, %s, %s, '1d', %s, %s, %s, 1, %s, %s, %s)",
            (
                uuid.uuid4(),
                run_id,
                symbol,
                started - timedelta(days=1),
                started,
                "failed" if failed else "succeeded",
                0 if failed else 1,
                "polygon 403 NOT_AUTHORIZED" if failed else None,
                started + timedelta(minutes=3),
            ),
        )


@pytest.fixture
def warehouse(conn: psycopg.Connection[Any]) -> datetime:
    """A small, realistic warehouse whose newest bars are from today.

    AAPL, MSFT (stocks), SPY (ETF) daily; BTC-USD hourly and daily; ETH-USD ten days
    behind (stale); VIX tracked without data. AAPL and BTC-USD carry flagged bars and
    gaps; last night's run had one failed job.
    """
    now = datetime.now(UTC)
    year_ago = now - timedelta(days=400)
    for symbol, asset_class in [
        ("AAPL", AssetClass.STOCK),
        ("MSFT", AssetClass.STOCK),
        ("SPY", AssetClass.ETF),
        ("BTC-USD", AssetClass.CRYPTO),
    ]:
        seed_series(conn, symbol, asset_class, Timeframe.D1, year_ago, now)
    crypto = AssetClass.CRYPTO
    seed_series(conn, "BTC-USD", crypto, Timeframe.H1, now - timedelta(days=45), now)
    seed_series(conn, "ETH-USD", crypto, Timeframe.D1, year_ago, now - timedelta(days=10))
    add_symbols(conn, [("VIX", AssetClass.INDEX)])

    aapl = {-8: FLAGGED, -45: FLAGGED, -120: LOW_QUALITY, -30: GAP, -160: GAP}
    mark_bars(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, year_ago, now, aapl)
    btc = {-6: LOW_QUALITY, -90: FLAGGED, -200: GAP, -400: GAP}
    start = now - timedelta(days=45)
    mark_bars(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.H1, start, now, btc)
    _record_nightly_run(conn, now)
    return now


# ---------- make dev's data, for the demo and the old dashboard ----------

DEMO_SERIES: tuple[tuple[str, AssetClass], ...] = (
    ("AAPL", AssetClass.STOCK),
    ("BTC-USD", AssetClass.CRYPTO),
    ("SPY", AssetClass.ETF),
    ("VIX", AssetClass.INDEX),
)


def record_run(
    conn: psycopg.Connection[Any], trigger: str, started: datetime, symbols: list[str]
) -> None:
    """A finished backfill run in which every symbol's one job succeeded."""
    run_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO backfill_runs (id, trigger, started_at, jobs_total) VALUES (%s, %s, %s, %s)",
        (run_id, trigger, started, len(symbols)),
    )
    for symbol in symbols:
        conn.execute(
            "INSERT INTO backfill_jobs (id, run_id, symbol, timeframe, range_start, range_end,"
            " status, attempts, bars_upserted, finished_at)"
            " VALUES (%s, %s, %s, '1d', %s, %s, 'succeeded', 1, 1, %s)",
            (uuid.uuid4(), run_id, symbol, started - timedelta(days=1), started,
             started + timedelta(minutes=2)),
        )  # fmt: skip


@pytest.fixture(scope="module")
def demo_warehouse(settings: Settings) -> datetime:
    """AAPL, BTC-USD, SPY and VIX from the synthetic provider, the way make dev loads
    them (daily and weekly bars for years, intraday bars for recent days), after a
    start-up run that succeeded. Loaded once per module: other modules' tests start
    from an empty warehouse anyway (the `conn` fixture truncates)."""
    now = datetime.now(UTC)
    with psycopg.connect(str(settings.database_url), autocommit=True) as conn:
        conn.execute("TRUNCATE bars, series_stats, symbols, backfill_jobs, backfill_runs")
        for symbol, asset_class in DEMO_SERIES:
            seed_series(
                conn, symbol, asset_class, Timeframe.D1, datetime(2024, 1, 1, tzinfo=UTC), now
            )
            seed_series(
                conn, symbol, asset_class, Timeframe.W1, datetime(2022, 1, 3, tzinfo=UTC), now
            )
            seed_series(conn, symbol, asset_class, Timeframe.H1, now - timedelta(days=30), now)
            seed_series(conn, symbol, asset_class, Timeframe.M5, now - timedelta(days=10), now)
        record_run(conn, "cli", now - timedelta(minutes=30), [s for s, _ in DEMO_SERIES])
    return now
