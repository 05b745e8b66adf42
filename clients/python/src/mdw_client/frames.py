"""Bars as DataFrames: pandas, polars or pyarrow, each imported only when asked for.

One column layout for all three: `time` (tz-aware UTC, microseconds; the index
in pandas), `symbol`, then the bar's fields with proper dtypes: float64 prices
and volume, nullable integer trades, booleans for the flags, strings for
source and notes, and `fetched_at` as a UTC timestamp.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mdw_client.errors import MdwError
from mdw_client.models import Bar

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

# Frame column order (pandas moves `time` to the index).
COLUMNS: tuple[str, ...] = (
    "time", "symbol", "open", "high", "low", "close", "volume", "vwap", "trades", "source",
    "validated", "quality_score", "validation_notes", "gap_detected", "volume_anomaly",
    "fetched_at",
)  # fmt: skip
FLOATS = ("open", "high", "low", "close", "volume", "vwap", "quality_score")
BOOLS = ("validated", "gap_detected", "volume_anomaly")
STRINGS = ("symbol", "source", "validation_notes")
TIMES = ("time", "fetched_at")
INTEGERS = ("trades",)

_EXTRAS = {"pandas": "pandas", "polars": "polars", "pyarrow": "arrow"}


class MissingDependencyError(MdwError, ImportError):
    """An optional DataFrame library is not installed."""


def require(module: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(module.split(".")[0], module)
        raise MissingDependencyError(
            f"this needs {module.split('.')[0]}: "
            f"pip install 'market-data-warehouse-client[{extra}]'"
        ) from None


def columns(bars: Sequence[Bar]) -> dict[str, list[Any]]:
    """The bars column by column, in COLUMNS order."""
    return {name: [getattr(bar, name) for bar in bars] for name in COLUMNS}


PANDAS_DTYPES: dict[str, str] = {
    **dict.fromkeys(FLOATS, "float64"),
    **dict.fromkeys(BOOLS, "bool"),
    **dict.fromkeys(STRINGS, "string"),
    **dict.fromkeys(INTEGERS, "Int64"),
}


def to_pandas(bars: Sequence[Bar]) -> pd.DataFrame:
    pd = require("pandas")
    data = columns(bars)
    series: dict[str, Any] = {}
    for name in COLUMNS:
        if name in TIMES:
            raw = pd.Series(data[name], dtype="object")
            series[name] = pd.to_datetime(raw, utc=True).dt.as_unit("us")
        else:
            series[name] = pd.Series(data[name], dtype=PANDAS_DTYPES[name])
    return pd.DataFrame(series, columns=list(COLUMNS)).set_index("time")


def _polars_schema(pl: Any) -> dict[str, Any]:
    utc = pl.Datetime("us", "UTC")
    kinds = {
        **dict.fromkeys(TIMES, utc),
        **dict.fromkeys(FLOATS, pl.Float64),
        **dict.fromkeys(BOOLS, pl.Boolean),
        **dict.fromkeys(STRINGS, pl.String),
        **dict.fromkeys(INTEGERS, pl.Int64),
    }
    return {name: kinds[name] for name in COLUMNS}


def to_polars(bars: Sequence[Bar]) -> pl.DataFrame:
    polars = require("polars")
    frame: pl.DataFrame = polars.DataFrame(
        columns(bars), schema=_polars_schema(polars), strict=True
    )
    return frame


def arrow_schema() -> pa.Schema:
    pa = require("pyarrow")
    utc = pa.timestamp("us", tz="UTC")
    kinds = {
        **dict.fromkeys(TIMES, utc),
        **dict.fromkeys(FLOATS, pa.float64()),
        **dict.fromkeys(BOOLS, pa.bool_()),
        **dict.fromkeys(STRINGS, pa.string()),
        **dict.fromkeys(INTEGERS, pa.int64()),
    }
    nullable = {"vwap", "trades", "validation_notes"}
    return pa.schema([pa.field(n, kinds[n], nullable=n in nullable) for n in COLUMNS])


def to_arrow(bars: Sequence[Bar]) -> pa.Table:
    pa = require("pyarrow")
    schema = arrow_schema()
    data = columns(bars)
    arrays = [pa.array(data[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
