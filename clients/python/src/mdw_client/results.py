"""`Bars`: the bars of one or many symbols, as a sequence and as DataFrames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from mdw_client import frames
from mdw_client.models import Bar, MissingSymbol

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa


class Bars(Sequence[Bar]):
    """Every bar a request returned, symbol by symbol (in the order asked), each in time order.

    Frames are long (a `symbol` column, one row per symbol and bar); pass
    `by_symbol=True` for a dict of one frame per symbol instead.
    """

    __slots__ = ("_bars", "adjustment", "missing", "symbols", "timeframe")

    def __init__(
        self,
        bars: Sequence[Bar],
        *,
        timeframe: str,
        symbols: Sequence[str] = (),
        adjustment: str | None = None,
        missing: Sequence[MissingSymbol] = (),
    ) -> None:
        self._bars = list(bars)
        self.timeframe = timeframe
        self.adjustment = adjustment
        self.symbols = list(symbols) or list(dict.fromkeys(b.symbol for b in self._bars))
        self.missing = list(missing)

    def __len__(self) -> int:
        return len(self._bars)

    @overload
    def __getitem__(self, index: int) -> Bar: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Bar]: ...
    def __getitem__(self, index: int | slice) -> Bar | Sequence[Bar]:
        return self._bars[index]

    def __iter__(self) -> Iterator[Bar]:
        return iter(self._bars)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bars):
            return self._bars == other._bars and self.timeframe == other.timeframe
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: unhashable

    def __repr__(self) -> str:
        return (
            f"Bars({len(self._bars)} {self.timeframe} bars of {', '.join(self.symbols) or '-'}"
            + (f", missing {[m.symbol for m in self.missing]}" if self.missing else "")
            + ")"
        )

    def by_symbol(self) -> dict[str, Bars]:
        """One `Bars` per symbol asked for (empty for a symbol without bars)."""
        groups: dict[str, list[Bar]] = {s: [] for s in self.symbols}
        for bar in self._bars:
            groups.setdefault(bar.symbol, []).append(bar)
        return {
            symbol: Bars(
                items, timeframe=self.timeframe, symbols=[symbol], adjustment=self.adjustment
            )
            for symbol, items in groups.items()
        }

    def to_records(self) -> list[dict[str, Any]]:
        """The bars as dicts in frame column order (time and fetched_at as datetimes)."""
        return [{name: getattr(bar, name) for name in frames.COLUMNS} for bar in self._bars]

    @overload
    def to_pandas(self, *, by_symbol: Literal[False] = False) -> pd.DataFrame: ...
    @overload
    def to_pandas(self, *, by_symbol: Literal[True]) -> dict[str, pd.DataFrame]: ...
    def to_pandas(self, *, by_symbol: bool = False) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """A pandas DataFrame indexed by `time` (datetime64[us, UTC]); needs pandas."""
        if by_symbol:
            return {s: frames.to_pandas(b) for s, b in self.by_symbol().items()}
        return frames.to_pandas(self._bars)

    @overload
    def to_polars(self, *, by_symbol: Literal[False] = False) -> pl.DataFrame: ...
    @overload
    def to_polars(self, *, by_symbol: Literal[True]) -> dict[str, pl.DataFrame]: ...
    def to_polars(self, *, by_symbol: bool = False) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """A polars DataFrame with `time` as Datetime("us", "UTC"); needs polars."""
        if by_symbol:
            return {s: frames.to_polars(b) for s, b in self.by_symbol().items()}
        return frames.to_polars(self._bars)

    @overload
    def to_arrow(self, *, by_symbol: Literal[False] = False) -> pa.Table: ...
    @overload
    def to_arrow(self, *, by_symbol: Literal[True]) -> dict[str, pa.Table]: ...
    def to_arrow(self, *, by_symbol: bool = False) -> pa.Table | dict[str, pa.Table]:
        """A pyarrow Table with `time` as timestamp[us, tz=UTC]; needs pyarrow."""
        if by_symbol:
            return {s: frames.to_arrow(b) for s, b in self.by_symbol().items()}
        return frames.to_arrow(self._bars)
