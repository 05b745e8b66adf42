"""The rows an export holds: the historical endpoint's pages, with the same SQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from market_data.exports import EXPORT_PAGE_ROWS, ExportSpec
from market_data.models import BarPageQuery
from market_data.repositories.bars import read_bar_page
from market_data.repositories.jobs import ConnectionSource
from market_data.timeframes import Timeframe


class PostgresBarReader:
    """Pages of one series in the export's view, keyset-continued (read_bar_page,
    `_ADJUSTED` included: an adjusted export is what the API serves for that view)."""

    def __init__(self, connect: ConnectionSource, page_rows: int = EXPORT_PAGE_ROWS) -> None:
        self._connect = connect
        self._page_rows = page_rows

    def pages(
        self, symbol: str, timeframe: Timeframe, spec: ExportSpec
    ) -> Iterator[Sequence[tuple[Any, ...]]]:
        after = None
        while True:
            query = BarPageQuery(
                symbol=symbol,
                timeframe=timeframe,
                start=spec.start,
                end=spec.end,
                validated_only=spec.validated_only,
                min_quality=spec.min_quality,
                limit=self._page_rows,
                after=after,
                adjustment=spec.adjustment,
            )
            with self._connect() as conn:
                rows = read_bar_page(conn, query)
            page = rows[: self._page_rows]
            if page:
                yield [(symbol, timeframe.value, *row) for row in page]
            if len(rows) <= self._page_rows:
                return
            after = page[-1][0]
