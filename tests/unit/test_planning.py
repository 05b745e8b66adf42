from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from market_data.models import TrackedSymbol
from market_data.planning import BackfillJob, PlanningRules, plan_run
from market_data.symbols import AssetClass
from market_data.timeframes import DEFAULT_TIMEFRAMES, Timeframe

NOW = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)
RULES = PlanningRules(
    initial_history_daily=timedelta(days=5 * 365),
    initial_history_intraday=timedelta(days=90),
    overlap_bars=2,
    max_job_span_intraday=timedelta(days=31),
)


def tracked(symbol: str, asset_class: AssetClass = AssetClass.STOCK,
            timeframes: tuple[Timeframe, ...] = (Timeframe.D1,)) -> TrackedSymbol:  # fmt: skip
    return TrackedSymbol(symbol, asset_class, None, True, timeframes, NOW, NOW)


def test_a_new_daily_series_gets_the_initial_history() -> None:
    [job] = plan_run([tracked("AAPL")], {}, NOW, RULES).jobs

    assert (job.symbol, job.timeframe) == ("AAPL", Timeframe.D1)
    assert (job.start, job.end) == (NOW - timedelta(days=5 * 365), NOW)


def test_a_new_intraday_series_gets_90_days_in_jobs_of_at_most_a_month() -> None:
    jobs = plan_run([tracked("AAPL", timeframes=(Timeframe.M5,))], {}, NOW, RULES).jobs

    assert len(jobs) == 3
    assert jobs[0].start == NOW - timedelta(days=90) and jobs[-1].end == NOW
    assert all(a.end == b.start for a, b in itertools.pairwise(jobs))
    assert all(j.end - j.start <= timedelta(days=31) for j in jobs)


def test_a_stored_series_restarts_a_couple_of_bars_before_its_last_bar() -> None:
    last = {
        ("AAPL", Timeframe.D1): datetime(2024, 5, 31, 4, tzinfo=UTC),
        ("AAPL", Timeframe.H1): datetime(2024, 6, 2, 23, tzinfo=UTC),
    }
    jobs = plan_run(
        [tracked("AAPL", timeframes=(Timeframe.D1, Timeframe.H1))], last, NOW, RULES
    ).jobs

    starts = {j.timeframe: j.start for j in jobs}
    assert starts == {
        Timeframe.D1: datetime(2024, 5, 29, 4, tzinfo=UTC),
        Timeframe.H1: datetime(2024, 6, 2, 21, tzinfo=UTC),
    }


def test_an_explicit_range_and_timeframes_replace_the_incremental_plan() -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC)
    plan = plan_run(
        [tracked("AAPL"), tracked("BTC-USD", AssetClass.CRYPTO)],
        {("AAPL", Timeframe.D1): NOW},
        NOW,
        RULES,
        trigger="admin",
        timeframes=[Timeframe.H1, Timeframe.W1],
        start=start,
        end=end,
    )

    assert plan.trigger == "admin"
    assert {(j.symbol, j.timeframe, j.start, j.end) for j in plan.jobs} == {
        (s, tf, start, end) for s in ("AAPL", "BTC-USD") for tf in (Timeframe.H1, Timeframe.W1)
    }
    assert {j.run_id for j in plan.jobs} == {plan.run_id}
    assert len({j.job_id for j in plan.jobs}) == 4


def test_a_series_already_up_to_date_gets_no_job() -> None:
    plan = plan_run([tracked("AAPL")], {}, NOW, RULES, start=NOW, end=NOW)

    assert plan.jobs == []


def test_a_job_travels_as_json_and_comes_back_equal() -> None:
    [job] = plan_run([tracked("BTC-USD", AssetClass.CRYPTO)], {}, NOW, RULES).jobs

    assert BackfillJob.model_validate_json(job.model_dump_json()) == job


@pytest.mark.parametrize(
    "change",
    [
        {"end": "2024-01-01T00:00:00Z"},  # end before start
        {"start": "2024-01-01T00:00:00"},  # no time zone
        {"timeframe": "2m"},
        {"asset_class": "bond"},
    ],
)
def test_a_malformed_job_message_is_rejected(change: dict[str, str]) -> None:
    body = {
        "job_id": str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
        "symbol": "AAPL",
        "asset_class": "stock",
        "timeframe": "1d",
        "start": "2024-01-02T00:00:00Z",
        "end": "2024-01-03T00:00:00Z",
    }
    with pytest.raises(ValidationError):
        BackfillJob.model_validate({**body, **change})


def test_ten_thousand_symbols_with_every_timeframe_plan_one_job_per_series() -> None:
    universe = [tracked(f"S{i:05d}", timeframes=DEFAULT_TIMEFRAMES) for i in range(10_000)]
    last = {(t.symbol, tf): NOW - timedelta(days=1) for t in universe for tf in DEFAULT_TIMEFRAMES}

    plan = plan_run(universe, last, NOW, RULES)

    # How fast this is belongs to `make bench` (fan-out row), not to a unit test.
    assert len(plan.jobs) == 70_000
    assert len({(j.symbol, j.timeframe) for j in plan.jobs}) == 70_000


def test_one_job_per_stock_refreshes_its_actions_preferring_the_daily_one() -> None:
    symbols = [
        tracked("AAPL", timeframes=(Timeframe.M5, Timeframe.D1, Timeframe.W1)),
        tracked("SPY", AssetClass.ETF, timeframes=(Timeframe.H1,)),
        tracked("BTC-USD", AssetClass.CRYPTO, timeframes=(Timeframe.D1,)),
        tracked("VIX", AssetClass.INDEX, timeframes=(Timeframe.D1,)),
    ]
    jobs = plan_run(symbols, {}, NOW, RULES).jobs

    refreshing = [(j.symbol, j.timeframe) for j in jobs if j.refresh_actions]
    assert refreshing == [("AAPL", Timeframe.D1), ("SPY", Timeframe.H1)]
    assert BackfillJob.model_validate_json(jobs[3].model_dump_json()) == jobs[3]


def test_a_vendor_adjusted_range_is_refetched_raw_beside_the_incremental_job() -> None:
    last = NOW - timedelta(days=1)
    legacy = (NOW - timedelta(days=400), last + timedelta(microseconds=1))
    key = ("AAPL", Timeframe.D1)

    jobs = plan_run([tracked("AAPL")], {key: last}, NOW, RULES, vendor_adjusted={key: legacy}).jobs
    explicit = plan_run(
        [tracked("AAPL")], {key: last}, NOW, RULES, vendor_adjusted={key: legacy},
        start=NOW - timedelta(days=3),
    ).jobs  # fmt: skip

    assert [(j.start, j.end) for j in jobs] == [legacy, (last - timedelta(days=2), NOW)]
    assert len(explicit) == 1  # an explicit range is exactly what was asked for
