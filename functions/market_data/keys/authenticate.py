"""Turn the X-API-Key a caller presented into the key's record, or refuse.

Order matters for cost: shape and checksum first (no I/O, so garbage and typos
never reach DynamoDB), then the in-process cache, then one consistent read.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from market_data.errors import KeyRejected, KeyStoreUnavailable
from market_data.keys.format import KeyHasher, is_well_formed
from market_data.keys.models import ApiKeyRecord, KeyState
from market_data.keys.store import KeyStore

logger = logging.getLogger(__name__)

MAX_CACHE_TTL = timedelta(seconds=60)
# last_used_at is informational; writing it on every request would double the
# write traffic, so one instance refreshes it at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class RecordCache:
    """A small TTL + LRU map from key hash to record.

    Hand-written because cachetools is not in the Lambda layer and this is all
    of it; the clock is injected so tests can step past the TTL.
    """

    def __init__(self, ttl: timedelta, clock: Callable[[], datetime], max_size: int = 1024) -> None:
        if ttl > MAX_CACHE_TTL:
            raise ValueError("a cached key must be re-read within 60 s (revocation bound)")
        self.ttl = ttl
        self._clock = clock
        self._max_size = max_size
        self._items: OrderedDict[str, tuple[datetime, ApiKeyRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        with self._lock:
            entry = self._items.get(key_hash)
            if entry is None:
                return None
            stored_at, record = entry
            if self._clock() - stored_at >= self.ttl:
                del self._items[key_hash]
                return None
            self._items.move_to_end(key_hash)
            return record

    def put(self, key_hash: str, record: ApiKeyRecord) -> None:
        if self.ttl <= timedelta(0):
            return
        with self._lock:
            self._items[key_hash] = (self._clock(), record)
            self._items.move_to_end(key_hash)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def forget(self, key_hash: str) -> None:
        with self._lock:
            self._items.pop(key_hash, None)


class Authenticator:
    def __init__(
        self,
        store: KeyStore,
        hasher: KeyHasher,
        clock: Callable[[], datetime],
        *,
        cache_ttl: timedelta = timedelta(seconds=30),
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._cache = RecordCache(cache_ttl, clock)
        self._touched: dict[str, datetime] = {}

    def authenticate(self, presented: str | None) -> ApiKeyRecord:
        """The active key's record; KeyRejected or KeyStoreUnavailable otherwise."""
        if not presented:
            raise KeyRejected("missing")
        if not is_well_formed(presented):
            raise KeyRejected("malformed")
        key_hash = self._hasher.hash(presented)
        record = self._cache.get(key_hash)
        if record is None:
            record = self._store.get_by_hash(key_hash)
            if record is None:
                raise KeyRejected("unknown")
            self._cache.put(key_hash, record)
        # The lookup was by hash already; comparing again in constant time costs
        # nothing and guards against a store that ever returns the wrong item.
        if not self._hasher.matches(presented, record.key_hash):
            raise KeyRejected("unknown")
        now = self._clock()
        state = record.state(now)
        if state is KeyState.REVOKED:
            raise KeyRejected("revoked", record.key_id)
        if state is KeyState.EXPIRED:
            raise KeyRejected("expired", record.key_id)
        self._note_use(record, now)
        return record

    def forget(self, key_hash: str) -> None:
        """Drop a key from this instance's cache (after it was changed here)."""
        self._cache.forget(key_hash)

    def _note_use(self, record: ApiKeyRecord, now: datetime) -> None:
        last = max(
            filter(None, (record.last_used_at, self._touched.get(record.key_hash))),
            default=None,
        )
        if last is not None and now - last < LAST_USED_RESOLUTION:
            return
        if len(self._touched) > 4096:  # keys are few; this only bounds memory
            self._touched.clear()
        self._touched[record.key_hash] = now
        try:
            self._store.record_use(record.key_hash, now)
        except KeyStoreUnavailable as exc:
            # Best effort: a missed "last used" time must not deny a valid key.
            logger.warning("could not record key use for %s: %s", record.key_id, exc)
