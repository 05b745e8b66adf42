"""Splits and cash dividends in PostgreSQL: what the workers store and the API reads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from psycopg import Connection

from market_data.corporate_actions import CorporateActions, Dividend, Split

_SPLIT_COLUMNS = "execution_date, split_from, split_to"
_DIVIDEND_COLUMNS = (
    "ex_dividend_date, cash_amount, currency, declaration_date, record_date, pay_date, "
    "dividend_type, frequency"
)

# Rows whose values did not change are left alone, so a re-run writes nothing.
_UPSERT_SPLIT = f"""
INSERT INTO splits AS s (symbol, {_SPLIT_COLUMNS}, source, fetched_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (symbol, execution_date) DO UPDATE SET
    (split_from, split_to, source, fetched_at) =
    (EXCLUDED.split_from, EXCLUDED.split_to, EXCLUDED.source, EXCLUDED.fetched_at)
WHERE (s.split_from, s.split_to, s.source) IS DISTINCT FROM
      (EXCLUDED.split_from, EXCLUDED.split_to, EXCLUDED.source)
"""

_UPSERT_DIVIDEND = f"""
INSERT INTO dividends AS d (symbol, {_DIVIDEND_COLUMNS}, source, fetched_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (symbol, ex_dividend_date, dividend_type) DO UPDATE SET
    (cash_amount, currency, declaration_date, record_date, pay_date, frequency, source,
     fetched_at) =
    (EXCLUDED.cash_amount, EXCLUDED.currency, EXCLUDED.declaration_date, EXCLUDED.record_date,
     EXCLUDED.pay_date, EXCLUDED.frequency, EXCLUDED.source, EXCLUDED.fetched_at)
WHERE (d.cash_amount, d.currency, d.declaration_date, d.record_date, d.pay_date, d.frequency,
       d.source)
      IS DISTINCT FROM
      (EXCLUDED.cash_amount, EXCLUDED.currency, EXCLUDED.declaration_date, EXCLUDED.record_date,
       EXCLUDED.pay_date, EXCLUDED.frequency, EXCLUDED.source)
"""


def replace_actions(
    conn: Connection[Any],
    symbol: str,
    actions: CorporateActions,
    source: str,
    fetched_at: datetime,
) -> int:
    """Make the stored actions of `symbol` the vendor's current list, in one transaction.

    The vendor's list is complete (every fetch asks for the whole history), so an
    action it no longer reports - a corrected date, a cancelled dividend - is
    removed, a revised one updated, an unchanged one left alone. Returns the rows
    inserted, updated or deleted (0 on a re-run with nothing new).
    """
    changed = 0
    with conn.transaction(), conn.cursor() as cur:
        for split in actions.splits:
            cur.execute(
                _UPSERT_SPLIT,
                (symbol, split.execution_date, split.split_from, split.split_to, source,
                 fetched_at),
            )  # fmt: skip
            changed += cur.rowcount
        for d in actions.dividends:
            cur.execute(
                _UPSERT_DIVIDEND,
                (symbol, d.ex_dividend_date, d.cash_amount, d.currency, d.declaration_date,
                 d.record_date, d.pay_date, d.dividend_type, d.frequency, source, fetched_at),
            )  # fmt: skip
            changed += cur.rowcount
        cur.execute(
            "DELETE FROM splits WHERE symbol = %s AND NOT execution_date = ANY(%s)",
            (symbol, [s.execution_date for s in actions.splits]),
        )
        changed += cur.rowcount
        cur.execute(
            "DELETE FROM dividends WHERE symbol = %s AND (ex_dividend_date, dividend_type)"
            " NOT IN (SELECT * FROM unnest(%s::date[], %s::text[]))",
            (
                symbol,
                [d.ex_dividend_date for d in actions.dividends],
                [d.dividend_type for d in actions.dividends],
            ),
        )
        changed += cur.rowcount
    return changed


def read_actions(
    conn: Connection[Any], symbol: str, start: date | None = None, end: date | None = None
) -> CorporateActions:
    """A symbol's stored actions, oldest first, effective in [start, end] when given."""
    bounds = {"symbol": symbol, "start": start or date.min, "end": end or date.max}
    splits = conn.execute(
        f"SELECT {_SPLIT_COLUMNS} FROM splits WHERE symbol = %(symbol)s"
        " AND execution_date BETWEEN %(start)s AND %(end)s ORDER BY execution_date",
        bounds,
    ).fetchall()
    dividends = conn.execute(
        f"SELECT {_DIVIDEND_COLUMNS} FROM dividends WHERE symbol = %(symbol)s"
        " AND ex_dividend_date BETWEEN %(start)s AND %(end)s"
        " ORDER BY ex_dividend_date, dividend_type",
        bounds,
    ).fetchall()
    return CorporateActions(
        splits=tuple(Split(*row) for row in splits),
        dividends=tuple(
            Dividend(
                ex_dividend_date=row[0], cash_amount=row[1], currency=row[2],
                declaration_date=row[3], record_date=row[4], pay_date=row[5],
                dividend_type=row[6], frequency=row[7],
            )
            for row in dividends
        ),
    )  # fmt: skip


def action_sources(conn: Connection[Any], symbol: str) -> dict[str, datetime]:
    """When each source last reported the symbol's actions (for the actions endpoint)."""
    rows = conn.execute(
        "SELECT source, max(fetched_at) FROM (SELECT source, fetched_at FROM splits"
        " WHERE symbol = %(s)s UNION ALL SELECT source, fetched_at FROM dividends"
        " WHERE symbol = %(s)s) a GROUP BY source",
        {"s": symbol},
    ).fetchall()
    return {str(source): fetched for source, fetched in rows}
