"""The vendor circuit breaker's state in PostgreSQL (`vendor_circuit`), shared by all workers.

See market_data.circuit for how the breaker behaves and why its state lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from market_data.errors import CircuitOpenError
from market_data.repositories.jobs import ConnectionSource

MAX_ERROR_LENGTH = 500

# `now` is the database clock unless a clock was given (tests simulate a day-long
# outage with one): every worker reads the same clock either way.
_CHECK = """
SELECT open_until, consecutive_failures,
       extract(epoch FROM open_until - coalesce(%(now)s, now()))::float8 AS remaining_s
FROM vendor_circuit WHERE vendor = %(vendor)s
"""

_FAILURE = """
INSERT INTO vendor_circuit AS c
    (vendor, consecutive_failures, open_until, last_failure_at, last_error, updated_at)
VALUES (%(vendor)s, 1,
        CASE WHEN 1 >= %(threshold)s
             THEN coalesce(%(now)s, now()) + make_interval(secs => %(open_s)s) END,
        now(), %(error)s, now())
ON CONFLICT (vendor) DO UPDATE SET
    consecutive_failures = c.consecutive_failures + 1,
    open_until = CASE WHEN c.consecutive_failures + 1 >= %(threshold)s
                      THEN coalesce(%(now)s, now()) + make_interval(secs => %(open_s)s)
                      ELSE c.open_until END,
    last_failure_at = now(),
    last_error = EXCLUDED.last_error,
    updated_at = now()
"""

# Only writes when there is something to reset, so a healthy night costs no writes.
_SUCCESS = """
UPDATE vendor_circuit SET consecutive_failures = 0, open_until = NULL, updated_at = now()
WHERE vendor = %s AND (consecutive_failures > 0 OR open_until IS NOT NULL)
"""


class PostgresCircuitBreaker:
    def __init__(
        self,
        connect: ConnectionSource,
        vendor: str,
        *,
        threshold: int,
        open_seconds: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._connect = connect
        self.vendor = vendor
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._clock = clock

    def _now(self) -> datetime | None:
        return self._clock() if self._clock is not None else None

    def check(self) -> bool:
        with self._connect() as conn:
            row = conn.execute(_CHECK, {"vendor": self.vendor, "now": self._now()}).fetchone()
        if row is None:
            return False
        open_until: datetime | None = row[0]
        remaining_s: float | None = row[2]
        if open_until is not None and remaining_s is not None and remaining_s > 0:
            raise CircuitOpenError(
                f"{self.vendor} circuit is open until {open_until.isoformat()} after "
                f"{row[1]} failed jobs in a row; not calling the vendor",
                retry_after_s=remaining_s,
            )
        # Half-open: the circuit opened and its time is up; this job is the probe.
        return int(row[1]) >= self._threshold

    def record_success(self) -> None:
        with self._connect() as conn:
            conn.execute(_SUCCESS, (self.vendor,))

    def record_failure(self, error: str) -> None:
        with self._connect() as conn:
            conn.execute(
                _FAILURE,
                {
                    "vendor": self.vendor,
                    "threshold": self._threshold,
                    "open_s": self._open_seconds,
                    "error": error[:MAX_ERROR_LENGTH],
                    "now": self._now(),
                },
            )
