"""Bars as pandas, polars and pyarrow frames: a UTC time index/column and proper dtypes."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from psycopg import Connection

from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import Bars, Client, MissingDependencyError
from tests.helpers import seed_series, utc

PRICES = ["open", "high", "low", "close", "volume", "vwap", "quality_score"]
FLAGS = ["validated", "gap_detected", "volume_anomaly"]


@pytest.fixture
def two_symbols(mdw: Client, conn: Connection[Any]) -> Bars:
    seed_series(conn, "AAPL")
    seed_series(conn, "BTC-USD", AssetClass.CRYPTO, Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1))
    # min_quality=0 and validated_only=False: flagged bars too, so notes are not all null.
    return mdw.bars(
        ["AAPL", "BTC-USD"], start="2024-01-01", end="2024-01-31", validated_only=False,
        min_quality=0,
    )  # fmt: skip


def test_pandas_long_frame_has_a_utc_time_index_and_proper_dtypes(two_symbols: Bars) -> None:
    df = two_symbols.to_pandas()

    assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "time"
    assert str(df.index.tz) == "UTC" and df.index.unit == "us"
    assert list(df.columns) == [
        "symbol", "open", "high", "low", "close", "volume", "vwap", "trades", "source",
        "validated", "quality_score", "validation_notes", "gap_detected", "volume_anomaly",
        "fetched_at",
    ]  # fmt: skip
    assert all(df[c].dtype == "float64" for c in PRICES)
    assert all(df[c].dtype == "bool" for c in FLAGS)
    assert df["trades"].dtype == "Int64"
    assert all(isinstance(df[c].dtype, pd.StringDtype) for c in ("symbol", "source"))
    assert isinstance(df["validation_notes"].dtype, pd.StringDtype)
    assert isinstance(df["fetched_at"].dtype, pd.DatetimeTZDtype)
    assert str(df["fetched_at"].dt.tz) == "UTC"

    assert len(df) == len(two_symbols) == 21 + 31
    assert df["symbol"].tolist() == ["AAPL"] * 21 + ["BTC-USD"] * 31
    first = two_symbols[0]
    assert df.index[0] == pd.Timestamp(first.time) and df["close"].iloc[0] == first.close
    btc = df[df["symbol"] == "BTC-USD"]
    assert btc.index[0] == pd.Timestamp("2024-01-01T00:00:00Z")


def test_pandas_by_symbol_is_a_dict_of_frames(two_symbols: Bars) -> None:
    frames = two_symbols.to_pandas(by_symbol=True)
    assert list(frames) == ["AAPL", "BTC-USD"]
    assert [len(f) for f in frames.values()] == [21, 31]
    assert frames["AAPL"].index.is_monotonic_increasing
    assert str(frames["BTC-USD"].index.tz) == "UTC"


def test_polars_frame_has_a_utc_time_column_and_proper_dtypes(two_symbols: Bars) -> None:
    df = two_symbols.to_polars()

    assert df.columns[:2] == ["time", "symbol"]
    assert df.schema["time"] == pl.Datetime("us", "UTC")
    assert df.schema["fetched_at"] == pl.Datetime("us", "UTC")
    assert all(df.schema[c] == pl.Float64 for c in PRICES)
    assert all(df.schema[c] == pl.Boolean for c in FLAGS)
    assert df.schema["trades"] == pl.Int64
    assert df.schema["symbol"] == pl.String and df.schema["validation_notes"] == pl.String
    assert df.height == 52
    assert df["time"].to_list() == [b.time for b in two_symbols]
    assert df["close"].to_list() == [b.close for b in two_symbols]
    by_symbol = two_symbols.to_polars(by_symbol=True)
    assert {s: f.height for s, f in by_symbol.items()} == {"AAPL": 21, "BTC-USD": 31}


def test_arrow_table_has_a_utc_time_column_and_proper_types(two_symbols: Bars) -> None:
    table = two_symbols.to_arrow()

    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("fetched_at").type == pa.timestamp("us", tz="UTC")
    assert all(table.schema.field(c).type == pa.float64() for c in PRICES)
    assert all(table.schema.field(c).type == pa.bool_() for c in FLAGS)
    assert table.schema.field("trades").type == pa.int64()
    assert table.schema.field("symbol").type == pa.string()
    assert not table.schema.field("time").nullable and table.schema.field("vwap").nullable
    assert table.num_rows == 52
    assert table.column("time").to_pylist() == [b.time for b in two_symbols]
    pandas_again = table.to_pandas().set_index("time")
    assert pandas_again["close"].tolist() == two_symbols.to_pandas()["close"].tolist()


def test_nulls_become_nan_and_na(mdw: Client, conn: Connection[Any]) -> None:
    seed_series(conn)
    conn.execute("UPDATE bars SET vwap = NULL, trades = NULL WHERE time = '2024-01-02T05:00Z'")
    bars = mdw.bars("AAPL", start="2024-01-02", end="2024-01-03")
    df = bars.to_pandas()
    assert math.isnan(df["vwap"].iloc[0]) and df["trades"].iloc[0] is pd.NA
    assert df["trades"].iloc[1] == bars[1].trades
    assert bars.to_polars()["trades"].to_list()[0] is None
    assert bars.to_arrow().column("vwap").to_pylist()[0] is None


def test_an_empty_result_still_has_the_columns_and_dtypes(
    mdw: Client, conn: Connection[Any]
) -> None:
    seed_series(conn)
    empty = mdw.bars("AAPL", start="2030-01-01", end="2030-01-31")
    df = empty.to_pandas()
    assert len(df) == 0 and str(df.index.tz) == "UTC" and df["close"].dtype == "float64"
    assert empty.to_polars().schema["time"] == pl.Datetime("us", "UTC")
    assert empty.to_arrow().num_rows == 0


def test_a_missing_frame_library_names_the_extra_to_install(
    two_symbols: Bars, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"market-data-warehouse-client\[polars\]"):
        two_symbols.to_polars()


def test_frame_libraries_are_imported_only_when_asked_for() -> None:
    code = (
        "import sys, mdw_client, mdw_client.cli\n"
        "loaded = {'pandas', 'polars', 'pyarrow', 'numpy'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
