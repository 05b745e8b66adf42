"""A bounded load on loopback (quick mode; `make load` is the full run that writes the
figures to docs/RELIABILITY.md). The API runs in its own process as under `make
dev`; the run stops by itself at its request budget or deadline. Only errors are
asserted - speed is measured, never asserted, in the test suite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg import Connection

from devtools.load import MIX, local_api, run_load, seed
from market_data.settings import Settings

CLIENTS, REQUESTS, SECONDS = 4, 400, 60

# A second process and a few hundred requests: seconds, bounded by budget and deadline.
pytestmark = pytest.mark.slow


def test_concurrent_clients_on_a_realistic_read_mix_get_no_errors(
    settings: Settings, conn: Connection[Any]
) -> None:
    now = datetime.now(UTC)
    seed(str(settings.database_url), now)
    with local_api(str(settings.database_url)) as base_url:
        result = run_load(
            base_url, clients=CLIENTS, max_requests=REQUESTS, max_seconds=SECONDS, now=now
        )
    print(f"\n{result.summary()}")
    assert result.errors == 0, result.error_samples
    assert result.requests == REQUESTS, "the run ended before its budget"
    assert set(result.by_kind) == {kind for _, kind in MIX}


def test_the_load_driver_refuses_any_address_but_loopback() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        run_load("http://10.0.0.1:8000", clients=1, max_requests=1, max_seconds=1)
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        run_load("http://localhost.example.com:8000", clients=1, max_requests=1, max_seconds=1)
