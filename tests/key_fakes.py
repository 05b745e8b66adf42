"""In-memory stand-ins for the DynamoDB adapters, and a clock tests can move.

They follow the Protocols in store, audit and ratelimit, count their calls,
and can be told to fail like a throttled table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from market_data.errors import KeyNotFound, KeyStoreUnavailable
from market_data.keys.audit import AuditEvent, AuditPage, decode_cursor, encode_cursor
from market_data.keys.format import KeyHasher
from market_data.keys.models import ApiKeyRecord, Scope
from market_data.keys.ratelimit import DEFAULT_LIMITS, RateLimiter
from market_data.keys.services import KeyServices, assemble

TEST_PEPPER = b"pepper-for-tests-only-0123456789"


class ManualClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class _Faulty:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        # True: every call fails like a throttled table; a set: only those methods.
        self.failing: bool | set[str] = False

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.failing is True or (isinstance(self.failing, set) and name in self.failing):
            raise KeyStoreUnavailable(f"{name}: ProvisionedThroughputExceededException")


class InMemoryKeyStore(_Faulty):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, ApiKeyRecord] = {}

    def add(self, record: ApiKeyRecord) -> None:
        self._call("add")
        assert record.key_hash not in self.items
        self.items[record.key_hash] = record

    def save(self, record: ApiKeyRecord) -> None:
        self._call("save")
        if record.key_hash not in self.items:
            raise KeyNotFound(record.key_id)
        self.items[record.key_hash] = record

    def get_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        self._call("get_by_hash")
        return self.items.get(key_hash)

    def get_by_id(self, key_id: str) -> ApiKeyRecord | None:
        self._call("get_by_id")
        return next((r for r in self.items.values() if r.key_id == key_id), None)

    def list_all(self) -> list[ApiKeyRecord]:
        self._call("list_all")
        return list(self.items.values())

    def delete(self, key_hash: str) -> bool:
        self._call("delete")
        return self.items.pop(key_hash, None) is not None

    def record_use(self, key_hash: str, when: datetime) -> None:
        self._call("record_use")
        if key_hash in self.items:
            self.items[key_hash] = self.items[key_hash].model_copy(update={"last_used_at": when})


class InMemoryAuditLog(_Faulty):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent, *, best_effort: bool = False) -> None:
        self._call("record")
        # As on DynamoDB: an outcome fills in the event written ahead under the same
        # key, and never replaces a finished one.
        for n, stored in enumerate(self.events):
            if (stored.key_id, stored.sort_key) == (event.key_id, event.sort_key):
                if stored.outcome is None and event.outcome is not None:
                    self.events[n] = event
                return
        self.events.append(event)

    def page(self, key_id: str, *, limit: int, cursor: str | None = None) -> AuditPage:
        self._call("page")
        after = decode_cursor(cursor) if cursor else None
        mine = sorted(
            (e for e in self.events if e.key_id == key_id),
            key=lambda e: e.sort_key,
            reverse=True,
        )
        if after is not None:
            mine = [e for e in mine if e.sort_key < after]
        page, more = mine[:limit], len(mine) > limit
        return AuditPage(page, encode_cursor(page[-1].sort_key) if more else None)


class InMemoryRateCounter(_Faulty):
    def __init__(self) -> None:
        super().__init__()
        self.buckets: Counter[str] = Counter()

    def increment(self, bucket: str, *, limit: int, expires_at: int) -> int | None:
        self._call("increment")
        if self.buckets[bucket] >= limit:
            return None
        self.buckets[bucket] += 1
        return self.buckets[bucket]


@dataclass
class Fakes:
    store: InMemoryKeyStore = field(default_factory=InMemoryKeyStore)
    audit: InMemoryAuditLog = field(default_factory=InMemoryAuditLog)
    counter: InMemoryRateCounter = field(default_factory=InMemoryRateCounter)


def memory_services(
    clock: ManualClock,
    *,
    cache_ttl: timedelta = timedelta(seconds=30),
    limits: Mapping[Scope, int] | None = None,
) -> tuple[KeyServices, Fakes]:
    """Key services on in-memory fakes, and the fakes to inspect."""
    fakes = Fakes()
    services = assemble(
        store=fakes.store,
        audit=fakes.audit,
        rate_limiter=RateLimiter(fakes.counter, clock, limits or DEFAULT_LIMITS),
        hasher=KeyHasher(TEST_PEPPER),
        clock=clock,
        cache_ttl=cache_ttl,
    )
    return services, fakes
