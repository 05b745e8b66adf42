"""The vendor circuit breaker's state in PostgreSQL (`vendor_circuit`), shared by all workers.

See market_data.circuit for how the breaker behaves and why its state lives here.
"""

from __future__ import annotations

from datetime import datetime

from market_data.errors import CircuitOpenError
from market_data.repositories.jobs import ConnectionSource

MAX_ERROR_LENGTH = 500

_CHECK = """
SELECT open_until, consecutive_failures FROM vendor_circuit
WHERE vendor = %s AND open_until > now()
"""

_FAILURE = """
INSERT INTO vendor_circuit AS c
    (vendor, consecutive_failures, open_until, last_failure_at, last_error, updated_at)
VALUES (%(vendor)s, 1,
        CASE WHEN 1 >= %(threshold)s THEN now() + make_interval(secs => %(open_s)s) END,
        now(), %(error)s, now())
ON CONFLICT (vendor) DO UPDATE SET
    consecutive_failures = c.consecutive_failures + 1,
    open_until = CASE WHEN c.consecutive_failures + 1 >= %(threshold)s
                      THEN now() + make_interval(secs => %(open_s)s)
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
        self, connect: ConnectionSource, vendor: str, *, threshold: int, open_seconds: int
    ) -> None:
        self._connect = connect
        self.vendor = vendor
        self._threshold = threshold
        self._open_seconds = open_seconds

    def check(self) -> None:
        with self._connect() as conn:
            row = conn.execute(_CHECK, (self.vendor,)).fetchone()
        if row is not None:
            open_until: datetime = row[0]
            raise CircuitOpenError(
                f"{self.vendor} circuit is open until {open_until.isoformat()} after "
                f"{row[1]} failed jobs in a row; not calling the vendor"
            )

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
                },
            )
