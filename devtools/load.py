"""A bounded load against the API on loopback: `make load` (full) or the reliability tests (quick).

The API runs as it does under `make dev` (uvicorn serving the app), in a
process of its own on a free 127.0.0.1 port, over a seeded warehouse. Client
threads, each with its own HTTP session, send a read mix like the dashboard's
and scripts': historical pages (following next_cursor), CSV, symbols, status,
metrics and health. The run stops by itself at a request budget or a deadline,
whichever comes first; the server is stopped with it. Only 127.0.0.1 is ever
contacted.

    python -m devtools.load [--clients 8] [--requests 6000] [--seconds 60] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests
from psycopg.conninfo import make_conninfo

from devtools.local_aws import free_port
from devtools.processes import stop_process
from devtools.synthetic_load import load_series
from market_data.migrations import apply_migrations
from market_data.repositories.symbols import add_symbols
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"

UNIVERSE: dict[AssetClass, tuple[str, ...]] = {
    AssetClass.STOCK: ("AAPL", "MSFT", "NVDA", "JPM", "KO", "BRK.B"),
    AssetClass.ETF: ("SPY", "QQQ", "TLT"),
    AssetClass.CRYPTO: ("BTC-USD", "ETH-USD", "SOL-USD"),
}
DAILY_YEARS = 2
HOURLY_DAYS = 60
# (weight, kind): what a dashboard and a few scripts ask for, roughly.
MIX: tuple[tuple[int, str], ...] = (
    (30, "historical daily page"),
    (20, "historical hourly page"),
    (5, "historical csv"),
    (12, "symbols"),
    (8, "symbols detailed"),
    (10, "status"),
    (5, "metrics"),
    (10, "health"),
)


@dataclass
class LoadResult:
    clients: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        return (
            f"{self.requests} requests from {self.clients} clients in {self.seconds:.1f} s: "
            f"{self.throughput:.0f} req/s, p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, errors {self.errors}"
        )


# --- data and server ----------------------------------------------------------------


def seed(database_url: str, now: datetime) -> None:
    """Migrate, track the universe, load daily and hourly bars (synthetic)."""
    daily_from = now - timedelta(days=365 * DAILY_YEARS)
    hourly_from = now - timedelta(days=HOURLY_DAYS)
    with psycopg.connect(database_url, autocommit=True) as conn:
        apply_migrations(conn)
        for asset_class, symbols in UNIVERSE.items():
            add_symbols(conn, [(s, asset_class) for s in symbols], [Timeframe.H1, Timeframe.D1])
            for symbol in symbols:
                load_series(conn, symbol, asset_class, Timeframe.D1, daily_from, now)
                load_series(conn, symbol, asset_class, Timeframe.H1, hourly_from, now)


@contextmanager
def local_api(database_url: str, *, log: Path | None = None) -> Iterator[str]:
    """The API in its own process on a free loopback port; stopped on exit."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "uvicorn", "devtools.serve:app_from_environment", "--factory",
        "--host", LOOPBACK, "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with open(log or os.devnull, "w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        base_url = f"http://{LOOPBACK}:{port}"
        try:
            _wait_until_serving(base_url, server)
            yield base_url
        finally:
            stop_process(server)


def _wait_until_serving(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API exited with {server.returncode} before serving")
        try:
            if requests.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the API did not serve within 30 s")


# --- the load -----------------------------------------------------------------------


def _requests_for(kind: str, rng: random.Random, now: datetime) -> list[tuple[str, dict[str, str]]]:
    """The first request of a kind; pages are followed by the client."""
    symbols = [s for group in UNIVERSE.values() for s in group]
    symbol = rng.choice(symbols)
    path = f"/api/v1/historical/{symbol}"
    if kind == "historical daily page":
        start = now - timedelta(days=rng.randint(120, 365 * DAILY_YEARS))
        return [(path, {"start": start.date().isoformat(), "limit": "250"})]
    if kind == "historical hourly page":
        start = now - timedelta(days=rng.randint(5, HOURLY_DAYS - 1))
        order = rng.choice(["asc", "desc"])
        return [(path, {"timeframe": "1h", "limit": "500", "start": start.date().isoformat(),
                        "sort": order})]  # fmt: skip
    if kind == "historical csv":
        return [(path, {"format": "csv", "limit": "1000"})]
    paths = {
        "symbols": "/api/v1/symbols",
        "symbols detailed": "/api/v1/symbols/detailed",
        "status": "/api/v1/status",
        "metrics": "/api/v1/metrics",
        "health": "/health",
    }
    return [(paths[kind], {})]


def run_load(
    base_url: str,
    *,
    clients: int,
    max_requests: int,
    max_seconds: float,
    seed_value: int = 7,
    now: datetime | None = None,
) -> LoadResult:
    """Send the mix from `clients` threads until `max_requests` or `max_seconds`."""
    if urlsplit(base_url).hostname != LOOPBACK:
        raise ValueError(f"load is only ever sent to {LOOPBACK}, not {base_url}")
    now = now or datetime.now(UTC)
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.monotonic() + max_seconds
    kinds = [kind for _, kind in MIX]
    weights = [weight for weight, _ in MIX]

    def take() -> bool:
        with lock:
            if budget[0] <= 0 or time.monotonic() >= deadline:
                return False
            budget[0] -= 1
            return True

    def client(number: int) -> None:
        rng = random.Random(seed_value * 1000 + number)  # a workload, not a secret
        session = requests.Session()
        while True:
            kind = rng.choices(kinds, weights)[0]
            for path, params in _requests_for(kind, rng, now):
                cursor: str | None = None
                while take():
                    query = {**params, **({"cursor": cursor} if cursor else {})}
                    ok, elapsed_ms, cursor, problem = _one(session, base_url + path, query)
                    with lock:
                        result.requests += 1
                        result.by_kind[kind] += 1
                        result.latencies_ms.append(elapsed_ms)
                        if not ok:
                            result.errors += 1
                            if len(result.error_samples) < 5:
                                result.error_samples.append(f"{path} {query}: {problem}")
                    if cursor is None:
                        break
                else:
                    session.close()
                    return

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 30)
    result.seconds = time.monotonic() - started
    return result


def _one(
    session: requests.Session, url: str, params: dict[str, str]
) -> tuple[bool, float, str | None, str]:
    started = time.perf_counter()
    try:
        response = session.get(url, params=params, timeout=30)
        body = response.content
    except requests.RequestException as exc:
        return False, (time.perf_counter() - started) * 1000, None, type(exc).__name__
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        return False, elapsed_ms, None, f"{response.status_code} {body[:200]!r}"
    cursor = response.headers.get("X-Next-Cursor")
    if cursor is None and response.headers.get("content-type", "").startswith("application/json"):
        match = re.search(rb'"next_cursor":"([^"]+)"', body)
        cursor = match.group(1).decode() if match else None
    return True, elapsed_ms, cursor, ""


# --- the report ---------------------------------------------------------------------


def report(result: LoadResult, machine: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when} on {machine}: `make load` ({result.clients} client threads, "
        f"the API in one uvicorn process, both on the same machine).",
        "",
        "| requests | seconds | throughput | p50 | p99 | errors |",
        "|---|---|---|---|---|---|",
        f"| {result.requests:,} | {result.seconds:.1f} | {result.throughput:.0f} req/s | "
        f"{result.percentile(50):.1f} ms | {result.percentile(99):.1f} ms | {result.errors} |",
        "",
        "Mix: " + ", ".join(f"{kind} {count:,}" for kind, count in result.by_kind.most_common()),
    ]
    return "\n".join(lines)


def write_report(text: str, path: Path = REPORT) -> None:
    document = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(document):
        raise ValueError(f"{path} has no {BEGIN} ... {END} block")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", document))


def _machine() -> str:
    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        match = re.search(r"model name\s*:\s*(.+)", info.read_text())
        cpu = match.group(1).strip() if match else cpu
    return f"{cpu}, {os.cpu_count()} cores"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite the block in {REPORT}")
    args = parser.parse_args(argv)

    from devtools.local_pg import start_postgres

    with tempfile.TemporaryDirectory(prefix="mdw-load-") as scratch:
        server_url, server = start_postgres(Path(scratch) / "pgdata")
        try:
            result = _measure(server_url, Path(scratch), args)
        finally:
            if server is not None:
                server.cleanup()  # stopped here: its data directory goes with `scratch`
    print(result.summary())
    for sample in result.error_samples:
        print("  error:", sample)
    if args.write_docs:
        write_report(report(result, _machine()))
        print(f"wrote {REPORT.relative_to(ROOT)}")
    return 1 if result.errors else 0


def _measure(server_url: str, scratch: Path, args: argparse.Namespace) -> LoadResult:
    """Seed a fresh database, serve it, load it, drop it."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS mdw_load WITH (FORCE)")
        admin.execute("CREATE DATABASE mdw_load")
    database_url = make_conninfo(server_url, dbname="mdw_load")
    now = datetime.now(UTC)
    print(f"seeding {sum(map(len, UNIVERSE.values()))} symbols ...", flush=True)
    seed(database_url, now)
    with local_api(database_url, log=scratch / "api.log") as base_url:
        # One short warm-up so the first measured requests do not pay for imports.
        run_load(base_url, clients=2, max_requests=50, max_seconds=10, now=now)
        print(f"loading {base_url} ...", flush=True)
        result = run_load(
            base_url,
            clients=args.clients,
            max_requests=args.requests,
            max_seconds=args.seconds,
            now=now,
        )
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS mdw_load WITH (FORCE)")
    return result


if __name__ == "__main__":
    raise SystemExit(main())
