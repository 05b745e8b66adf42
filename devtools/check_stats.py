"""`make stats-check`: recount every series from the bars and report where series_stats drifted.

series_stats is kept by deltas on the write path (what each upsert inserted,
revised or re-flagged), so it never scans a series; this is the independent
count that proves the deltas right. Exits 1 when any series differs. Uses the
`make dev` database (.local/pgdata), or DATABASE_URL.
"""

from __future__ import annotations

import sys
import time

import psycopg

from devtools.local_pg import start_postgres
from devtools.run_backfill import STATE_DIR
from market_data.repositories.bars import series_stats_drift


def main() -> int:
    database_url, _pg = start_postgres(STATE_DIR / "pgdata")
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        drift = series_stats_drift(conn)
        series = conn.execute("SELECT count(*) FROM series_stats").fetchone()
    print(f"{series[0] if series else 0} series recounted in {time.monotonic() - started:.1f}s")
    for item in drift:
        print(f"  {item.symbol} {item.timeframe}: stored {item.stored}, counted {item.counted}")
    print("no drift" if not drift else f"{len(drift)} series drifted")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
