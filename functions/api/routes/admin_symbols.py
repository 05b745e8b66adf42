"""Admin: the tracked symbol universe (what the nightly backfill fetches).

Symbols are validated and normalised the way the backfill reads them:
crypto is canonical `BTC-USD` (`BTCUSD` and `X:BTCUSD` are accepted) and must
be tracked as asset class crypto; indices drop Polygon's `I:` prefix.
Deactivating a symbol stops its nightly backfill and keeps its bars.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from api.audit import set_audit_target
from api.auth import ADMIN_RESPONSES, require_admin
from api.deps import DatabaseDep
from api.problems import problem_doc
from market_data.errors import ConflictError, InvalidRequestError, InvalidSymbolError, NotFoundError
from market_data.models import SymbolOverview, TrackedSymbol
from market_data.repositories import symbols as repo
from market_data.symbols import AssetClass, canonical_symbol, infer_asset_class, is_crypto_symbol
from market_data.timeframes import DEFAULT_TIMEFRAMES, Timeframe

router = APIRouter(
    prefix="/api/v1/admin/symbols",
    tags=["admin: symbols"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)


def _timeframe_set(values: list[Timeframe]) -> list[Timeframe]:
    """De-duplicated, shortest bar first."""
    return sorted(set(values), key=lambda t: t.duration)


TimeframeList = Annotated[
    list[Timeframe], Field(min_length=1, max_length=32), AfterValidator(_timeframe_set)
]
# No control characters: PostgreSQL text cannot hold NUL (that was a 500), and
# names end up in logs, CSV exports and the dashboard.
SymbolName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
SymbolPath = Annotated[
    str, Path(min_length=1, max_length=40, description="AAPL, BRK.B, BTC-USD (or BTCUSD)")
]


def check_asset_class(symbol: str, asset_class: AssetClass) -> None:
    """Crypto pairs and the crypto asset class go together, both ways."""
    if is_crypto_symbol(symbol) and asset_class is not AssetClass.CRYPTO:
        raise ValueError(f"{symbol} is a crypto pair; asset_class must be crypto")
    if asset_class is AssetClass.CRYPTO and not is_crypto_symbol(symbol):
        raise ValueError("crypto symbols are USD pairs such as BTC-USD (BTCUSD, X:BTCUSD)")


def _inferred_asset_class(symbol: str | None) -> AssetClass:
    # An invalid symbol has failed its own validator already (and is absent from data).
    return infer_asset_class(symbol) if symbol else AssetClass.STOCK


class SymbolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Annotated[str, StringConstraints(max_length=40)]
    # The replaced API defaulted to stock; inferring gets crypto pairs and indices right.
    asset_class: AssetClass = Field(
        default_factory=lambda data: _inferred_asset_class(data.get("symbol")),
        description="Inferred when left out: crypto pairs are crypto, known index names "
        "(VIX, SPX, NDX, ...) are indices, default-universe symbols keep their class "
        "(SPY is an ETF), anything else is a stock",
    )
    name: SymbolName | None = None
    timeframes: TimeframeList = Field(default_factory=lambda: list(DEFAULT_TIMEFRAMES))

    @field_validator("symbol")
    @classmethod
    def _canonical(cls, value: str) -> str:
        try:
            return canonical_symbol(value)
        except InvalidSymbolError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_asset_class(self.symbol, self.asset_class)
        return self


class SymbolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: StrictBool | None = None  # a JSON boolean only: "no" or 0 is a 422, not a guess
    name: SymbolName | None = Field(default=None, description="null clears the name")


class TimeframesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeframes: TimeframeList


class SeriesPublic(BaseModel):
    timeframe: Timeframe
    records: int
    validated_records: int
    gap_records: int
    first_time: datetime | None
    last_time: datetime | None


class SymbolStats(BaseModel):
    records: int
    validated_records: int
    validation_rate: float | None = Field(description="Percent of records validated (0-100)")
    latest_data: datetime | None
    series: list[SeriesPublic]

    @classmethod
    def of(cls, overview: SymbolOverview) -> SymbolStats:
        records = overview.records
        return cls(
            records=records,
            validated_records=overview.validated_records,
            validation_rate=round(100 * overview.validated_records / records, 2)
            if records
            else None,
            latest_data=overview.latest_data,
            series=[
                SeriesPublic(
                    timeframe=s.timeframe,
                    records=s.records,
                    validated_records=s.validated_records,
                    gap_records=s.gap_records,
                    first_time=s.first_time,
                    last_time=s.last_time,
                )
                for s in sorted(overview.series, key=lambda s: s.timeframe.duration)
            ],
        )


class SymbolPublic(BaseModel):
    symbol: str
    asset_class: AssetClass
    name: str | None
    active: bool
    timeframes: list[Timeframe]
    created_at: datetime
    updated_at: datetime
    stats: SymbolStats | None = None

    @classmethod
    def of(cls, tracked: TrackedSymbol, overview: SymbolOverview | None = None) -> SymbolPublic:
        return cls(
            symbol=tracked.symbol,
            asset_class=tracked.asset_class,
            name=tracked.name,
            active=tracked.active,
            timeframes=list(tracked.timeframes),
            created_at=tracked.created_at,
            updated_at=tracked.updated_at,
            stats=SymbolStats.of(overview) if overview is not None else None,
        )


class SymbolList(BaseModel):
    count: int
    symbols: list[SymbolPublic]


def _canonical(request: Request, raw: str) -> str:
    symbol = canonical_symbol(raw)
    set_audit_target(request, symbol)
    return symbol


def _not_tracked(symbol: str) -> NotFoundError:
    return NotFoundError(f"{symbol} is not tracked.")


@router.post(
    "",
    status_code=201,
    response_model=SymbolPublic,
    summary="Track a symbol (the nightly backfill picks it up)",
    responses={409: problem_doc("Already tracked"), 422: problem_doc("Bad symbol")},
)
def create_tracked_symbol(body: SymbolCreate, db: DatabaseDep, request: Request) -> SymbolPublic:
    set_audit_target(request, body.symbol)
    tracked = repo.create_symbol(db.conn, body.symbol, body.asset_class, body.timeframes, body.name)
    if tracked is None:
        raise ConflictError(f"{body.symbol} is already tracked; PUT it to change or reactivate it.")
    return SymbolPublic.of(tracked)


@router.get("", response_model=SymbolList, summary="Tracked symbols")
def list_tracked_symbols(
    db: DatabaseDep,
    active_only: Annotated[bool, Query(description="Only symbols the backfill fetches")] = False,
    include_stats: Annotated[bool, Query(description="Add record counts per series")] = False,
) -> SymbolList:
    if include_stats:
        items = [
            SymbolPublic.of(o.tracked, o)
            for o in repo.list_overviews(db.conn, active_only=active_only)
        ]
    else:
        items = [SymbolPublic.of(t) for t in repo.list_symbols(db.conn, active_only=active_only)]
    return SymbolList(count=len(items), symbols=items)


@router.get(
    "/{symbol}", response_model=SymbolPublic, summary="One tracked symbol with its statistics"
)
def get_tracked_symbol(symbol: SymbolPath, db: DatabaseDep, request: Request) -> SymbolPublic:
    canonical = _canonical(request, symbol)
    overview = repo.get_overview(db.conn, canonical)
    if overview is None:
        raise _not_tracked(canonical)
    return SymbolPublic.of(overview.tracked, overview)


@router.put(
    "/{symbol}",
    response_model=SymbolPublic,
    summary="Activate, deactivate or rename a tracked symbol",
)
def update_tracked_symbol(
    symbol: SymbolPath,
    db: DatabaseDep,
    request: Request,
    body: Annotated[SymbolUpdate, Body(default_factory=SymbolUpdate)],
    active: Annotated[
        bool | None,
        Query(description="The replaced API's spelling of body.active: ?active=false"),
    ] = None,
) -> SymbolPublic:
    canonical = _canonical(request, symbol)
    if active is not None:
        if body.active is not None and body.active != active:
            raise InvalidRequestError("?active= and the body's active disagree; give one.")
        body = body.model_copy(update={"active": active})
    if body.active is None and "name" not in body.model_fields_set:
        raise InvalidRequestError("Give at least one of: active, name.")
    tracked = repo.update_symbol(
        db.conn,
        canonical,
        active=body.active,
        name=body.name,
        clear_name="name" in body.model_fields_set and body.name is None,
    )
    if tracked is None:
        raise _not_tracked(canonical)
    return SymbolPublic.of(tracked)


@router.put(
    "/{symbol}/timeframes",
    response_model=SymbolPublic,
    summary="Replace the timeframes the backfill fetches for a symbol",
)
def set_symbol_timeframes(
    symbol: SymbolPath, body: TimeframesUpdate, db: DatabaseDep, request: Request
) -> SymbolPublic:
    canonical = _canonical(request, symbol)
    tracked = repo.update_symbol(db.conn, canonical, timeframes=body.timeframes)
    if tracked is None:
        raise _not_tracked(canonical)
    return SymbolPublic.of(tracked)


@router.delete(
    "/{symbol}",
    response_model=SymbolPublic,
    summary="Deactivate a symbol (no more backfills; its data is kept)",
)
def deactivate_symbol(symbol: SymbolPath, db: DatabaseDep, request: Request) -> SymbolPublic:
    canonical = _canonical(request, symbol)
    tracked = repo.update_symbol(db.conn, canonical, active=False)
    if tracked is None:
        raise _not_tracked(canonical)
    return SymbolPublic.of(tracked)
