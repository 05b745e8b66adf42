"""Splits and cash dividends of a symbol: what the adjusted views are computed from."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import DatabaseDep
from market_data.errors import UnknownSymbolError
from market_data.history import resolve_window
from market_data.repositories.actions import action_sources, read_actions
from market_data.repositories.symbols import get_symbol
from market_data.symbols import canonical_symbol

router = APIRouter(prefix="/api/v1", tags=["market data"])


class SplitOut(BaseModel):
    execution_date: date
    split_from: float
    split_to: float
    ratio: float = Field(description="split_to / split_from: prices before it divide by this")


class DividendOut(BaseModel):
    ex_dividend_date: date
    cash_amount: float
    currency: str
    declaration_date: date | None
    record_date: date | None
    pay_date: date | None
    dividend_type: str = Field(description="CD regular cash, SC special, LT/ST capital gains")
    frequency: int | None = Field(description="Payments a year (4 quarterly, 0 one-off)")


class CorporateActionsOut(BaseModel):
    symbol: str
    splits: list[SplitOut]
    dividends: list[DividendOut]
    sources: dict[str, datetime] = Field(
        description="Who reported the symbol's actions, and when they were last fetched"
    )


@router.get(
    "/corporate-actions/{symbol}",
    response_model=CorporateActionsOut,
    summary="Splits and cash dividends of a symbol (effective in start..end when given)",
)
def corporate_actions(
    db: DatabaseDep,
    symbol: Annotated[str, Path(max_length=40, description="AAPL, BRK.B")],
    start: Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or RFC 3339")] = None,
    end: Annotated[
        str | None, Query(max_length=40, description="Inclusive; YYYY-MM-DD or RFC 3339")
    ] = None,
) -> CorporateActionsOut:
    canonical = canonical_symbol(symbol)
    if get_symbol(db.conn, canonical) is None:
        raise UnknownSymbolError(f"symbol {canonical} is not tracked")
    start_at, end_at = resolve_window(start, end)
    actions = read_actions(
        db.conn,
        canonical,
        start_at.date() if start_at else None,
        (end_at - timedelta(microseconds=1)).date() if end_at else None,
    )
    return CorporateActionsOut(
        symbol=canonical,
        splits=[SplitOut.model_validate(s, from_attributes=True) for s in actions.splits],
        dividends=[DividendOut.model_validate(d, from_attributes=True) for d in actions.dividends],
        sources=action_sources(db.conn, canonical),
    )
