"""A circuit breaker for the market-data vendor, shared by every worker through PostgreSQL.

Workers run in separate Lambda environments, so in-process state would let each
of them discover a failing vendor on its own and keep calling it. Every worker
already has the database, so the breaker's state is one row there
(`vendor_circuit`, migration 0002) and the database clock decides when it closes.

Closed: jobs call the vendor; each job that ends in a transient vendor failure
adds one to `consecutive_failures`, each success resets it. Open: once the count
reaches the threshold, jobs fail fast (back to the queue) until `open_until`.
Half-open: after that, the next job tries; a failure reopens the circuit at once
(the count is still over the threshold), a success closes it. While the circuit
is open, and when a probe fails, the job waits: its message is re-sent delayed
until the circuit may close, without spending one of its deliveries. Several workers
may probe at the same moment - a handful of extra requests, acceptable here.

Hand-written rather than a library (pybreaker and friends keep state in
process memory or Redis, neither of which these workers share).
"""

from __future__ import annotations

from typing import Protocol


class CircuitBreaker(Protocol):
    def check(self) -> bool:
        """Raise CircuitOpenError while the vendor should be left alone; True when the
        circuit had opened and its time is up (this job probes the vendor)."""

    def record_success(self) -> None: ...

    def record_failure(self, error: str) -> None: ...


class ClosedCircuit:
    """A breaker that never opens (the synthetic provider cannot fail)."""

    def check(self) -> bool:
        return False

    def record_success(self) -> None:
        return None

    def record_failure(self, error: str) -> None:
        return None
