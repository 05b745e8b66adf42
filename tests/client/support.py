"""Helpers for the client tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def rows(conn: Any, symbol: str, timeframe: str, *, validated_only: bool = True) -> list[datetime]:
    """The bar times the server holds for a series (what its filters would serve)."""
    where = " AND validated AND quality_score >= 0.85" if validated_only else ""
    return [
        r[0]
        for r in conn.execute(
            f"SELECT time FROM bars WHERE symbol = %s AND timeframe = %s{where} ORDER BY time",
            (symbol, timeframe),
        ).fetchall()
    ]
