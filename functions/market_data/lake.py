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

Jobs do not name every change: a series that switches provider loses all of its
old source's bars in the warehouse, also those older than the new provider's
history, which no job's range covers. So the lake keeps a manifest
(`manifest/series.parquet`, outside the tables' locations): each series' source,
bar count and first and last bar as of the last write. A write compares the
warehouse's series statistics with it, and every series that lost bars,
switched source, or changed without a job of this run has its whole history's
partitions, old and new, rewritten (or removed, once empty). A lake without a
manifest is rebuilt; a rebuild also removes partitions no series reaches any more.

A partition is streamed, never held: the source yields the rows in batches and
the sink encodes each batch into the partition's file as it comes, so memory is
bounded by a batch (and a row group), not by the partition.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from market_data.timeframes import Timeframe

logger = logging.getLogger(__name__)

BARS_PREFIX = "bars"
ACTIONS_PREFIX = "corporate_actions"
BARS_FILE = "bars.parquet"
# Outside the tables' locations, so neither Athena nor DuckDB reads it as bars.
MANIFEST_KEY = "manifest/series.parquet"
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
# Partition groups written at once, each with its own connection: reading rows out of
# PostgreSQL (its formatting, in one backend process per COPY) is the bound, and two
# COPYs use two of the server's cores while memory holds two groups' batches.
PARALLEL_GROUPS = 2


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


@dataclass(frozen=True, slots=True)
class SeriesState:
    """A stored series as the warehouse's statistics count it (and the manifest keeps it)."""

    symbol: str
    timeframe: Timeframe
    source: str | None
    records: int
    first: datetime
    last: datetime  # the last bar's time (inclusive)

    @property
    def key(self) -> tuple[str, Timeframe]:
        return (self.symbol, self.timeframe)

    @property
    def range(self) -> SeriesRange:
        return SeriesRange(self.symbol, self.timeframe, self.first, self.last + _TINY)


def stale_partitions(
    before: Mapping[tuple[str, Timeframe], SeriesState],
    now: Iterable[SeriesState],
    run: Iterable[SeriesRange],
) -> list[Partition]:
    """Partitions the run's ranges may miss: for each series whose statistics changed
    since the manifest (`before`) in a way the run's jobs do not explain, every month
    of its old and its new history. Explained is a series a job of this run wrote,
    with the same source and nothing lost (no fewer bars, no shorter range); the
    rest lost bars (a provider switch deletes the old source's bars everywhere),
    switched source, or changed without a job here (a lake write that was lost)."""
    current = {s.key: s for s in now}
    written = {(r.symbol, r.timeframe) for r in run}
    found: set[Partition] = set()
    for key in before.keys() | current.keys():
        old, new = before.get(key), current.get(key)
        if old == new:
            continue
        if (
            old is not None
            and new is not None
            and key in written
            and new.source == old.source
            and new.records >= old.records
            and new.first <= old.first
            and new.last >= old.last
        ):
            continue
        for state in (old, new):
            if state is not None:
                found.update(partitions_of(state.timeframe, state.range.start, state.range.end))
    return sorted(found)


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

    def series_states(self) -> list[SeriesState]:
        """Every stored series (records > 0), from the series statistics."""
        ...

    def read_bars(self, timeframe: Timeframe, start: datetime, end: datetime) -> Iterable[object]:
        """Every stored bar of the timeframe in [start, end), ordered by symbol and time,
        as batches of the sink's table type (each batch held only until the next)."""
        ...

    def read_actions(self) -> tuple[object, object]:
        """All splits and all dividends, as the sink's table type."""
        ...


class LakeSink(Protocol):
    """Where the lake's files go (S3 through pyarrow, or a fake)."""

    def write_partitions(
        self, batches: Iterable[object], partitions: Sequence[Partition]
    ) -> list[int]:
        """Write each partition's rows of the batches as its one file (none: remove it);
        returns the rows written per partition."""
        ...

    def write_actions(self, splits: object, dividends: object) -> None: ...

    def stored_partitions(self) -> list[Partition]:
        """The partitions that have a file in the lake."""
        ...

    def read_manifest(self) -> list[SeriesState] | None:
        """The series as of the last write_run or rebuild (None: no manifest yet)."""
        ...

    def write_manifest(self, states: Sequence[SeriesState]) -> None: ...


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
    workers: int = PARALLEL_GROUPS

    def write_run(self, run_id: uuid.UUID) -> LakeReport:
        """Rewrite every partition the run touched or that changed without it (see
        stale_partitions), and the corporate actions; a lake without a manifest
        is rebuilt, there being no telling what its files hold."""
        before = self.sink.read_manifest()
        if before is None:
            return self.rebuild()
        # The statistics are read before any bar: a change made while the write runs
        # shows in the next write's comparison, never vanishes from it.
        states = self.source.series_states()
        ranges = self.source.run_ranges(run_id)
        partitions = {
            *touched_partitions(ranges),
            *stale_partitions({s.key: s for s in before}, states, ranges),
        }
        report = self._write(sorted(partitions), run_id=run_id)
        self.sink.write_manifest(states)
        return report

    def rebuild(self) -> LakeReport:
        """Rewrite every partition that holds a stored bar and remove every other one
        (a lake lost, new, or of unknown state)."""
        states = self.source.series_states()
        stored = self.sink.stored_partitions()
        report = self._write(
            sorted({*touched_partitions(s.range for s in states), *stored}), run_id=None
        )
        self.sink.write_manifest(states)
        return report

    def write_partitions(self, partitions: Sequence[Partition]) -> LakeReport:
        return self._write(sorted(set(partitions)), run_id=None)

    def _write(self, partitions: Sequence[Partition], run_id: uuid.UUID | None) -> LakeReport:
        started = time.perf_counter()
        report = LakeReport()
        groups = read_groups(partitions)

        def write(group: list[Partition]) -> list[int]:
            batches = self.source.read_bars(group[0].timeframe, group[0].start, group[-1].end)
            try:
                return self.sink.write_partitions(batches, group)
            finally:
                # A sink that failed half-way ends the source's read (its COPY, its
                # connection) now, not when the traceback holding the generator goes.
                if isinstance(batches, Generator):
                    batches.close()

        with ThreadPoolExecutor(self.workers, thread_name_prefix="lake-write") as pool:
            written = list(pool.map(write, groups))
        for group, rows in zip(groups, written, strict=True):
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
