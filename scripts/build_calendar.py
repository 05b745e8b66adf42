"""Regenerate functions/market_data/data/nyse_calendar.json from exchange_calendars.

exchange_calendars (and pandas under it) is far too heavy for a Lambda, so the
NYSE sessions are captured here at build time as the few facts that cannot be
derived: weekday holidays and early closes. tests/unit/test_calendar.py checks
the file still agrees with the library session by session.
"""

from __future__ import annotations

import json
from pathlib import Path

import exchange_calendars as xcals
import pandas as pd

FIRST_YEAR, LAST_YEAR = 2000, 2030
OUT = Path(__file__).resolve().parents[1] / "functions/market_data/data/nyse_calendar.json"


def build() -> dict[str, object]:
    cal = xcals.get_calendar("XNYS", start=f"{FIRST_YEAR}-01-01", end=f"{LAST_YEAR}-12-31")
    sessions = {d.date() for d in cal.sessions}
    weekdays = pd.bdate_range(f"{FIRST_YEAR}-01-01", f"{LAST_YEAR}-12-31")
    holidays = sorted(d.date().isoformat() for d in weekdays if d.date() not in sessions)
    closes = cal.closes.dt.tz_convert("America/New_York")
    early = sorted(
        f"{ts.date().isoformat()}T{ts.strftime('%H:%M')}"
        for ts in closes
        if (ts.hour, ts.minute) != (16, 0)
    )
    return {
        "exchange": "XNYS",
        "timezone": "America/New_York",
        "first_year": FIRST_YEAR,
        "last_year": LAST_YEAR,
        "regular_open": "09:30",
        "regular_close": "16:00",
        "holidays": holidays,
        "early_closes": early,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
