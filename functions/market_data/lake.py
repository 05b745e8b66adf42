"""The lake: the warehouse's bars and corporate actions as Parquet files in S3.

No AWS, Parquet or database types here: the export Lambda (and make dev) build a
LakeWriter with their adapters in market_data.wiring; tests build it with real
ones or fakes.

Layout (Hive-style, what the Glue tables and DuckDB read):

    bars/timeframe=<tf>/month=<YYYY-MM>/bars.parquet     one file per partition
    corporate_actions/splits/splits.parquet, corporate_actions/dividends/dividends.parquet

A partition is the unit of writing: a run that inserted or revised any bar of a
(timeframe, month) rewrites that partition's one file whole, from the warehouse,
at every bar's latest revision. So the lake holds each bar exactly once, a
re-export is idempotent (the same bytes' worth of rows, whatever ran before), and
no small files accumulate: there is never more than one file per partition to
compact. Which partitions a run touched comes from its jobs: each succeeded job
that wrote bars (`bars_upserted > 0`) names a series and a range, and every month
the range overlaps is rewritten (a superset of what changed, never a subset).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from market_data.timeframes import Timeframe

logger = logging.getLogger(__name__)

BARS_PREFIX = "bars"
ACTIONS_PREFIX = "corporate_actions"
BARS_FILE = "bars.parquet"
# The lake's columns, in order: the series key, then the warehouse's columns as the
# API names them (raw prices, the quality verdict, the revision time).
LAKE_COLUMNS: tuple[str, ...] = (
    "symbol", "time", "open", "high", "low", "close", "volume", "vwap", "trades", "source",
    "validated", "quality_score", "validation_notes", "gap_detected", "volume_anomaly",
    "fetched_at",
)  # fmt: skip
# Months read from the warehouse in one query: coarse timeframes have few bars a
# month, so a year of them is one read; intraday ones are read a month at a time,
# which bounds the memory one read takes (a month of 1m bars for 500 symbols is
# about 10 million rows).
_MONTHS_PER_READ = {Timeframe.H4: 12, Timeframe.D1: 12, Timeframe.W1: 12}
_TINY = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    timeframe: Timeframe
    month: date  # the first day of the month

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def key(self) -> str:
        return f"{BARS_PREFIX}/timeframe={self.timeframe.value}/month={self.label}/{BARS_FILE}"

    @property
    def start(self) -> datetime:
        return datetime(self.month.year, self.month.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return _month_start(_next_month(self.month))


@dataclass(frozen=True, slots=True)
class SeriesRange:
    """A range of one series that a run wrote bars in."""

    symbol: str
    timeframe: Timeframe
    start: datetime
    end: datetime  # exclusive


def _month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partitions_of(timeframe: Timeframe, start: datetime, end: datetime) -> list[Partition]:
    """Every month partition that [start, end) overlaps."""
    if end <= start:
        return []
    last = (end.astimezone(UTC) - _TINY).date()
    month = start.astimezone(UTC).date().replace(day=1)
    found = []
    while month <= last:
        found.append(Partition(timeframe, month))
        month = _next_month(month)
    return found


def touched_partitions(ranges: Iterable[SeriesRange]) -> list[Partition]:
    found = {p for r in ranges for p in partitions_of(r.timeframe, r.start, r.end)}
    return sorted(found)


def read_groups(partitions: Sequence[Partition]) -> list[list[Partition]]:
    """Partitions read together: consecutive months of one timeframe, up to its limit."""
    groups: list[list[Partition]] = []
    for partition in sorted(partitions):
        limit = _MONTHS_PER_READ.get(partition.timeframe, 1)
        current = groups[-1] if groups else None
        if (
            current
            and current[-1].timeframe == partition.timeframe
            and _next_month(current[-1].month) == partition.month
            and len(current) < limit
        ):
            current.append(partition)
        else:
            groups.append([partition])
    return groups


class LakeSource(Protocol):
    """What the lake reads from the warehouse (PostgresLakeSource, or a fake)."""

    def run_ranges(self, run_id: uuid.UUID) -> list[SeriesRange]:
        """The ranges a run's jobs wrote bars in."""
        ...

    def all_ranges(self) -> list[SeriesRange]:
        """Every stored series, first bar to last (a full rebuild)."""
        ...

    def read_bars(self, timeframe: Timeframe, start: datetime, end: datetime) -> object:
        """Every stored bar of the timeframe in [start, end), as the sink's table type."""
        ...

    def read_actions(self) -> tuple[object, object]:
        """All splits and all dividends, as the sink's table type."""
        ...


class LakeSink(Protocol):
    """Where the lake's files go (S3 through pyarrow, or a fake)."""

    def write_partitions(self, table: object, partitions: Sequence[Partition]) -> list[int]:
        """Write each partition's rows of `table` as its one file (none: remove it);
        returns the rows written per partition."""
        ...

    def write_actions(self, splits: object, dividends: object) -> None: ...


@dataclass(slots=True)
class LakeReport:
    partitions: int = 0
    rows: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LakeWriter:
    source: LakeSource
    sink: LakeSink

    def write_run(self, run_id: uuid.UUID) -> LakeReport:
        """Rewrite every partition the run touched, and the corporate actions."""
        return self._write(touched_partitions(self.source.run_ranges(run_id)), run_id=run_id)

    def rebuild(self) -> LakeReport:
        """Rewrite every partition that holds a stored bar (a lake lost or new)."""
        return self._write(touched_partitions(self.source.all_ranges()), run_id=None)

    def write_partitions(self, partitions: Sequence[Partition]) -> LakeReport:
        return self._write(sorted(set(partitions)), run_id=None)

    def _write(self, partitions: Sequence[Partition], run_id: uuid.UUID | None) -> LakeReport:
        started = time.perf_counter()
        report = LakeReport()
        for group in read_groups(partitions):
            table = self.source.read_bars(group[0].timeframe, group[0].start, group[-1].end)
            rows = self.sink.write_partitions(table, group)
            report.partitions += len(group)
            report.rows += sum(rows)
            report.files.extend(p.key for p, n in zip(group, rows, strict=True) if n)
        self.sink.write_actions(*self.source.read_actions())
        report.seconds = time.perf_counter() - started
        logger.info(
            "lake written",
            extra={
                "run_id": str(run_id) if run_id else None,
                "partitions": report.partitions,
                "rows": report.rows,
                "seconds": round(report.seconds, 3),
            },
        )
        return report
