"""Symbol health and the nightly schedule, as the status endpoints report them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from market_data.calendar import nyse
from market_data.symbols import AssetClass

NIGHTLY_RUN_AT = time(2, 0, tzinfo=UTC)
STALE_AFTER = timedelta(hours=72)
WARN_AFTER = timedelta(hours=24)
STALE_BELOW_PCT = 85.0
WARN_BELOW_PCT = 95.0


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class SymbolHealth:
    status: HealthStatus
    data_age_hours: float | None  # wall-clock hours since the latest bar
    market_age_hours: float | None  # the same, less the days the market was closed


def market_age(asset_class: AssetClass, latest: datetime, now: datetime) -> timedelta:
    """Age of the data in market time: weekends and holidays do not count for stocks."""
    age = max(now - latest, timedelta(0))
    if asset_class.trades_around_the_clock:
        return age
    return age - nyse().closed_time_between(latest, now)


def symbol_health(
    asset_class: AssetClass,
    latest: datetime | None,
    validation_rate_pct: float | None,
    now: datetime,
) -> SymbolHealth:
    if latest is None:
        return SymbolHealth(HealthStatus.STALE, None, None)
    wall = max(now - latest, timedelta(0))
    age = market_age(asset_class, latest, now)
    rate = 100.0 if validation_rate_pct is None else validation_rate_pct
    if age > STALE_AFTER or rate < STALE_BELOW_PCT:
        status = HealthStatus.STALE
    elif age > WARN_AFTER or rate < WARN_BELOW_PCT:
        status = HealthStatus.WARNING
    else:
        status = HealthStatus.HEALTHY
    hours = 3600.0
    return SymbolHealth(
        status, round(wall.total_seconds() / hours, 2), round(age.total_seconds() / hours, 2)
    )


def next_nightly_run(now: datetime) -> datetime:
    today = datetime.combine(now.astimezone(UTC).date(), NIGHTLY_RUN_AT)
    return today if today > now else today + timedelta(days=1)


def percentage(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None
