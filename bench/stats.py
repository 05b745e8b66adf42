"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    p50: float
    p99: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return cls(statistics.median(ordered), p99, len(ordered))


def measure(action: Callable[[], object], runs: int, warmup: int = 2) -> Timing:
    [timing] = measure_side_by_side([action], runs, warmup)
    return timing


def measure_side_by_side(
    actions: Sequence[Callable[[], object]], runs: int, warmup: int = 2
) -> list[Timing]:
    """Each action's timing, the actions taking turns run by run: a busy moment of a
    shared machine then falls on a figure and its floor alike, not on one of them."""
    for _ in range(warmup):
        for action in actions:
            action()
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, taken in zip(actions, samples, strict=True):
            started = time.perf_counter()
            action()
            taken.append(time.perf_counter() - started)
    return [Timing.of(taken) for taken in samples]


@dataclass
class Row:
    """One line of the results table."""

    area: str
    measure: str
    value: str
    floor: str
    ratio: str
    goal: str
    verdict: str

    @staticmethod
    def judged(
        area: str,
        measure: str,
        value: float,
        floor: float,
        unit: str,
        goal: str,
        met: bool,
        fmt: str = "{:.2f}",
    ) -> Row:
        ratio = value / floor if floor else float("inf")
        return Row(
            area,
            measure,
            f"{fmt.format(value)} {unit}",
            f"{fmt.format(floor)} {unit}",
            f"{ratio:.2f}x",
            goal,
            "met" if met else "MISSED",
        )
