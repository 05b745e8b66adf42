"""make dev's stand-in for the nightly schedule: a run at 02:00 UTC while it is up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools import dev
from market_data.settings import Settings


def test_the_timer_launches_a_scheduled_run_each_time_it_fires_and_survives_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()
    triggers: list[str] = []

    class Launched:
        run_id = "r"
        jobs: tuple[()] = ()

    def launch_run(*_: Any, trigger: str, **__: Any) -> Launched:
        triggers.append(trigger)
        if len(triggers) == 1:
            raise RuntimeError("the database blinked")
        if len(triggers) == 3:
            stop.set()
        return Launched()

    monkeypatch.setattr(dev, "_seconds_until_next_run", lambda: 0.01)
    monkeypatch.setattr(dev, "launch_run", launch_run)
    monkeypatch.setattr(dev, "rules_from_settings", lambda settings: None)
    monkeypatch.setattr(dev, "run_store", lambda settings: None)
    monkeypatch.setattr(dev, "job_queue", lambda settings, sqs: None)

    dev.run_nightly(Settings(database_url="postgresql://unused"), sqs=None, until=stop)

    assert triggers == ["schedule", "schedule", "schedule"]


def test_the_timer_waits_until_two_oclock_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return cls(2026, 12, 1, 23, 30, tzinfo=UTC)

    monkeypatch.setattr(dev, "datetime", Clock)
    assert dev._seconds_until_next_run() == 2.5 * 3600
