"""Fixed-window per-key rate limits on the in-memory counter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from market_data.errors import KeyStoreUnavailable
from market_data.keys.models import ApiKeyRecord, Scope
from market_data.keys.ratelimit import DEFAULT_LIMITS, RateLimiter
from tests.key_fakes import InMemoryRateCounter, ManualClock

WINDOW_START = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)


def record(*scopes: Scope, override: int | None = None) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_hash="h",
        key_id="k1",
        name="n",
        scopes=scopes,
        preview="mdw_…abcd",
        created_at=WINDOW_START,
        created_by="t",
        rate_limit_per_minute=override,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(WINDOW_START.replace(second=15))


def test_the_default_limit_follows_the_keys_scopes() -> None:
    limiter = RateLimiter(InMemoryRateCounter(), ManualClock(), DEFAULT_LIMITS)
    assert limiter.limit_for(record(Scope.READ)) == 600
    assert limiter.limit_for(record(Scope.ADMIN)) == 120
    assert limiter.limit_for(record(Scope.READ, Scope.ADMIN)) == 600
    assert limiter.limit_for(record(Scope.ADMIN, override=5)) == 5


def test_requests_count_down_and_the_one_over_the_limit_is_refused(clock: ManualClock) -> None:
    limiter = RateLimiter(InMemoryRateCounter(), clock, DEFAULT_LIMITS)
    key = record(Scope.READ, override=3)
    decisions = [limiter.check(key) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    reset = int(WINDOW_START.timestamp()) + 60
    assert {d.reset_at for d in decisions} == {reset}
    assert decisions[-1].retry_after == 45
    assert decisions[-1].headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
    }


def test_the_count_starts_again_in_the_next_window(clock: ManualClock) -> None:
    counter = InMemoryRateCounter()
    limiter = RateLimiter(counter, clock, DEFAULT_LIMITS)
    key = record(Scope.READ, override=1)
    assert limiter.check(key).allowed
    assert not limiter.check(key).allowed
    clock.advance(seconds=44)  # 03:04:59
    assert not limiter.check(key).allowed
    clock.advance(seconds=1)  # 03:05:00, a new window
    fresh = limiter.check(key)
    assert fresh.allowed and fresh.remaining == 0
    assert len(counter.buckets) == 2


def test_refused_requests_are_not_counted(clock: ManualClock) -> None:
    counter = InMemoryRateCounter()
    limiter = RateLimiter(counter, clock, DEFAULT_LIMITS)
    key = record(Scope.READ, override=2)
    for _ in range(10):
        limiter.check(key)
    assert list(counter.buckets.values()) == [2]


def test_a_failing_counter_fails_closed(clock: ManualClock) -> None:
    counter = InMemoryRateCounter()
    counter.failing = True
    with pytest.raises(KeyStoreUnavailable):
        RateLimiter(counter, clock, DEFAULT_LIMITS).check(record(Scope.READ))
