"""`make dev`: the whole product on one machine, no cloud account and no Docker.

Starts an embedded PostgreSQL and emulated AWS services, migrates, tracks the
default universe, loads history, then serves the API (and dashboard) until
Ctrl-C. Everything it started stops with it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType

import psycopg
import uvicorn

from devtools.admin_key import bootstrap_local_keys
from devtools.local_aws import start_aws
from devtools.local_pg import start_postgres
from devtools.synthetic_load import load_series
from market_data.migrations import apply_migrations
from market_data.repositories.symbols import add_symbols, list_symbols
from market_data.symbols import DEFAULT_UNIVERSE

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".local"
DAILY_HISTORY_FROM = date(2020, 1, 1)
INTRADAY_HISTORY_DAYS = 90


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def load_history(database_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        add_symbols(conn, [(s, a) for a, symbols in DEFAULT_UNIVERSE.items() for s in symbols])
        tracked = list_symbols(conn)
        started, total = time.monotonic(), 0
        for number, item in enumerate(tracked, 1):
            for timeframe in item.timeframes:
                start = (
                    now - timedelta(days=INTRADAY_HISTORY_DAYS)
                    if timeframe.is_intraday
                    else datetime.combine(DAILY_HISTORY_FROM, datetime.min.time(), UTC)
                )
                total += load_series(conn, item.symbol, item.asset_class, timeframe, start, now)
            print(f"\r  loaded {number}/{len(tracked)} symbols, {total:,} bars written", end="")
        print(f" in {time.monotonic() - started:.1f}s")


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    port = int(os.environ.get("PORT", "8000"))
    print("Starting embedded PostgreSQL ...")
    database_url, _pg = start_postgres(STATE_DIR / "pgdata")
    os.environ["DATABASE_URL"] = database_url
    endpoint, aws = start_aws()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    print(f"Emulated AWS (DynamoDB, SQS) at {endpoint}")
    admin_key = bootstrap_local_keys()  # key tables in moto + an admin key
    with psycopg.connect(database_url, autocommit=True) as conn:
        applied = apply_migrations(conn)
    print(f"Migrations applied: {applied or 'none pending'}")
    print("Loading the default universe with synthetic history ...")
    load_history(database_url)

    from api.app import create_app

    print(f"\nAPI:       http://127.0.0.1:{port}/")
    print(f"Docs:      http://127.0.0.1:{port}/docs")
    print(f"Dashboard: http://127.0.0.1:{port}/dashboard/")
    print(f"Admin key: {admin_key}  (X-API-Key header; lives as long as this run)")
    print("Ctrl-C stops everything.\n")
    try:
        uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="info")
    except KeyboardInterrupt:
        pass
    finally:
        aws.stop()
        print("Stopped.")
    sys.exit(0)


if __name__ == "__main__":
    main()
