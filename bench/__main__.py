"""Run the benchmarks: `make bench` (full) or `python -m bench --quick` (CI smoke).

Prints a table and, in full mode, rewrites the generated block of
docs/PERFORMANCE.md with it and the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from bench import (
    coldstart,
    fanout,
    firstresponse,
    ingest,
    lake,
    package,
    readpath,
    reads,
    storage,
)
from bench.stats import Row
from devtools.local_pg import start_postgres
from market_data import metric_names
from market_data.migrations import apply_migrations

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> str:
    cpu = "unknown CPU"
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", with_cpuinfo.read_text())
        cpu = match.group(1).strip() if match else platform.machine()
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo.read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}"
    )


def table(rows: list[Row]) -> str:
    header = "| area | measure | value | floor / reference | ratio | goal | verdict |\n"
    header += "|---|---|---|---|---|---|---|\n"
    return header + "".join(
        f"| {r.area} | {r.measure} | {r.value} | {r.floor} | {r.ratio} | {r.goal} | {r.verdict} |\n"
        for r in rows
    )


def database(data_dir: Path) -> tuple[str, str]:
    """(server URL, URL of the migrated mdw_bench database)."""
    server_url, _server = start_postgres(data_dir)
    globals()["_server"] = _server  # keep the embedded server alive for the whole run
    with psycopg.connect(server_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'mdw_bench'").fetchone():
            admin.execute("CREATE DATABASE mdw_bench")
    url = make_conninfo(server_url, dbname="mdw_bench")
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn)
    return server_url, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--rows", type=int, default=10_000_000, help="bars in the read table")
    parser.add_argument(
        "--runs", type=int, default=None, help="timed repetitions per read figure (40; 3 quick)"
    )
    parser.add_argument("--batch", type=int, default=50_000, help="ingest batch size")
    parser.add_argument("--skip-package", action="store_true", help="skip the layer build")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated sections to run: coldstart, readpath, ingest, lake, storage, fanout, "
        "package "
        "(a partial run prints its table and never rewrites docs/PERFORMANCE.md)",
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}

    def wanted(section: str) -> bool:
        return not only or section in only

    if args.quick:
        args.rows, args.batch = 200_000, 2_000
    if args.runs is None:
        args.runs = 3 if args.quick else 40

    started = time.monotonic()
    data_dir = (
        Path(tempfile.mkdtemp(prefix="mdw-bench-"))
        if args.quick
        else ROOT / ".local" / "bench-pgdata"
    )
    server_url, url = database(data_dir)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", metric_names.NAMESPACE)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    rows: list[Row] = []
    notes: list[str] = []
    cold_runs = 3 if args.quick else 15
    if wanted("coldstart"):
        print("cold start ...", flush=True)
        found, more = coldstart.run(cold_runs)
        rows += found
        notes += more
    # UTC sessions, as the API's pool opens them (db._options): psycopg reads UTC
    # times fastest then, so the floors below are the cheapest raw reads.
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as conn:
        print(f"populating {args.rows:,} bars (first run only) ...", flush=True)
        readpath.populate(conn, args.rows)
        if wanted("coldstart"):
            print("first response ...", flush=True)
            rows.append(firstresponse.run(readpath.first_response_event(), url, cold_runs))
        if wanted("readpath"):
            print("read path ...", flush=True)
            found, more = readpath.run(conn, args.runs)
            rows += found
            notes += more
            print("reads across symbols ...", flush=True)
            rows += reads.run(conn, args.runs)
        if wanted("ingest"):
            print("ingest ...", flush=True)
            rows += ingest.run(conn, args.batch, 3 if args.quick else 5)
            rows += ingest.nightly(
                conn, 100_000 if args.quick else 1_000_000, 5 if args.quick else 15
            )
    if wanted("lake"):
        print("lake ...", flush=True)
        rows += lake.run(server_url, *((10, 2_000, 1) if args.quick else (100, 17_000, 3)))
    if wanted("storage"):
        print("storage and the in-place migration ...", flush=True)
        rows += storage.run(server_url, args.rows)
    if wanted("fanout"):
        print("fan-out ...", flush=True)
        rows += fanout.run(server_url, 300 if args.quick else 10_000)
    if not args.skip_package and wanted("package"):
        print("package size ...", flush=True)
        found, more = package.run(ROOT / ".local" / "layer-cache")
        rows += found
        notes += more

    result = table(rows)
    print("\n" + result)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"{BEGIN}\nMeasured {when} on {machine()}; bars table: {args.rows:,} rows; "
        f"{args.runs} timed runs per read figure.\n\n{result}\n" + "\n".join(notes) + f"\n{END}"
    )
    if args.quick or only:
        out = ROOT / "test-artifacts" / ("bench-quick.md" if args.quick else "bench-partial.md")
        out.parent.mkdir(exist_ok=True)
        out.write_text(block + "\n")
    else:
        text = REPORT.read_text() if REPORT.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
        REPORT.write_text(re.sub(f"{BEGIN}.*?{END}", lambda _: block, text, flags=re.S))
    print(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
