"""Authentication logic on the in-memory key store, with a clock the tests move."""

from __future__ import annotations

from datetime import timedelta

import pytest

from market_data.errors import KeyRejected, KeyStoreUnavailable
from market_data.keys.admin import KeyAdmin
from market_data.keys.authenticate import Authenticator
from market_data.keys.format import KeyHasher, generate_key
from market_data.keys.models import Scope
from market_data.keys.services import KeyServices
from tests.key_fakes import (
    TEST_PEPPER,
    Fakes,
    InMemoryKeyStore,
    ManualClock,
    memory_services,
)

Setup = tuple[KeyServices, Fakes]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def setup(clock: ManualClock) -> Setup:
    return memory_services(clock)


def _rejection(authenticator: Authenticator, presented: str | None) -> KeyRejected:
    with pytest.raises(KeyRejected) as caught:
        authenticator.authenticate(presented)
    return caught.value


def test_a_valid_key_authenticates_as_its_record(setup: Setup) -> None:
    services, _ = setup
    issued = services.admin.create(name="reader", created_by="tests")
    record = services.authenticator.authenticate(issued.api_key)
    assert record.key_id == issued.record.key_id
    assert record.scopes == (Scope.READ,)


@pytest.mark.parametrize(
    ("presented", "reason"),
    [(None, "missing"), ("", "missing"), ("hello", "malformed"), ("mdw_" + "A" * 36, "malformed")],
)
def test_missing_and_malformed_keys_are_rejected_without_reading_the_store(
    setup: Setup, presented: str | None, reason: str
) -> None:
    services, fakes = setup
    assert _rejection(services.authenticator, presented).reason == reason
    assert sum(fakes.store.calls.values()) == 0


def test_a_key_with_a_typo_is_rejected_without_reading_the_store(setup: Setup) -> None:
    services, fakes = setup
    key = services.admin.create(name="reader", created_by="tests").api_key
    fakes.store.calls.clear()
    typo = key[:10] + ("x" if key[10] != "x" else "y") + key[11:]
    assert _rejection(services.authenticator, typo).reason == "malformed"
    assert sum(fakes.store.calls.values()) == 0


def test_a_well_formed_key_nobody_issued_is_unknown(setup: Setup) -> None:
    services, fakes = setup
    assert _rejection(services.authenticator, generate_key()).reason == "unknown"
    assert fakes.store.calls["get_by_hash"] == 1


def test_a_cached_key_is_not_read_again_within_the_cache_ttl(
    setup: Setup, clock: ManualClock
) -> None:
    services, fakes = setup
    key = services.admin.create(name="reader", created_by="tests").api_key
    for _ in range(5):
        services.authenticator.authenticate(key)
        clock.advance(seconds=5)
    assert fakes.store.calls["get_by_hash"] == 1
    clock.advance(seconds=10)  # 35 s after the first read
    services.authenticator.authenticate(key)
    assert fakes.store.calls["get_by_hash"] == 2


def test_a_revocation_made_on_another_instance_takes_effect_within_the_cache_ttl(
    clock: ManualClock,
) -> None:
    # Two Lambda instances share one table; the revocation happens on the other one.
    store, hasher = InMemoryKeyStore(), KeyHasher(TEST_PEPPER)
    this_instance = Authenticator(store, hasher, clock, cache_ttl=timedelta(seconds=30))
    other_instance = KeyAdmin(store, hasher, clock)
    issued = other_instance.create(name="reader", created_by="tests")
    this_instance.authenticate(issued.api_key)
    other_instance.update(issued.record.key_id, active=False)
    clock.advance(seconds=29)
    this_instance.authenticate(issued.api_key)  # still trusted from the cache, by design
    clock.advance(seconds=1)
    rejection = _rejection(this_instance, issued.api_key)
    assert rejection.reason == "revoked"
    assert rejection.key_id == issued.record.key_id


def test_a_revocation_made_on_this_instance_takes_effect_at_once(setup: Setup) -> None:
    services, _ = setup
    issued = services.admin.create(name="reader", created_by="tests")
    services.authenticator.authenticate(issued.api_key)
    services.admin.update(issued.record.key_id, active=False)
    assert _rejection(services.authenticator, issued.api_key).reason == "revoked"


def test_an_expired_key_is_rejected_the_moment_it_expires_even_when_cached(
    setup: Setup, clock: ManualClock
) -> None:
    services, _ = setup
    key = services.admin.create(
        name="temp", created_by="tests", expires_at=clock() + timedelta(minutes=10)
    ).api_key
    services.authenticator.authenticate(key)
    clock.advance(minutes=9, seconds=59)
    services.authenticator.authenticate(key)
    clock.advance(seconds=1)
    assert _rejection(services.authenticator, key).reason == "expired"


def test_a_deleted_key_stops_working_within_the_cache_ttl(clock: ManualClock) -> None:
    services, fakes = memory_services(clock, cache_ttl=timedelta(seconds=30))
    issued = services.admin.create(name="reader", created_by="tests")
    services.authenticator.authenticate(issued.api_key)
    del fakes.store.items[issued.record.key_hash]  # deleted by another instance
    clock.advance(seconds=30)
    assert _rejection(services.authenticator, issued.api_key).reason == "unknown"


def test_a_failing_store_fails_closed(setup: Setup) -> None:
    services, fakes = setup
    key = services.admin.create(name="reader", created_by="tests").api_key
    fakes.store.failing = True
    with pytest.raises(KeyStoreUnavailable):
        services.authenticator.authenticate(key)


def test_last_use_is_recorded_at_most_every_five_minutes(setup: Setup, clock: ManualClock) -> None:
    services, fakes = setup
    issued = services.admin.create(name="reader", created_by="tests")
    for _ in range(10):
        services.authenticator.authenticate(issued.api_key)
        clock.advance(seconds=20)
    assert fakes.store.calls["record_use"] == 1
    clock.advance(minutes=5)
    services.authenticator.authenticate(issued.api_key)
    assert fakes.store.calls["record_use"] == 2
    assert fakes.store.items[issued.record.key_hash].last_used_at == clock()


def test_failing_to_record_last_use_does_not_deny_a_valid_key(setup: Setup) -> None:
    services, fakes = setup
    key = services.admin.create(name="reader", created_by="tests").api_key
    fakes.store.failing = {"record_use"}
    assert services.authenticator.authenticate(key).name == "reader"
    assert fakes.store.calls["record_use"] == 1


def test_a_cache_ttl_over_sixty_seconds_is_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="60 s"):
        memory_services(clock, cache_ttl=timedelta(seconds=61))
