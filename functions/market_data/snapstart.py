"""Lambda SnapStart hooks: what must not be in a snapshot, or must not survive a restore.

With SnapStart the function is initialised once per published version and
its memory snapshotted; every new execution environment resumes from that
snapshot, possibly many at once and long after it was taken. So:

- before the snapshot: no open database connection (it would be dead, or worse
  shared by every restored copy), no AWS client or secret read during init;
  the imports a first keyed request needs, and what the handler left for first
  use (the API's other routers), are done now, while they are free;
- after each restore: fresh random state (every copy would otherwise draw the
  same jitter), no cached AWS clients or credentials (each copy resolves its
  own), the Powertools secret cache emptied, the pool and the IAM auth tokens
  created again on first use.

The hooks are registered with `snapshot_restore_py`, which the Python runtime
calls only when SnapStart is on; elsewhere registering them costs nothing.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Work a handler defers to first use, done before the snapshot instead (register).
_warm_ups: list[Callable[[], None]] = []


def before_snapshot() -> None:
    from market_data import db

    for warm_up in _warm_ups:
        warm_up()
    db.close_pool()
    _forget_aws_clients()
    # Paid once per version instead of on each environment's first keyed request.
    import boto3.dynamodb.types
    import boto3.session  # noqa: F401


def after_restore() -> None:
    random.seed()  # from os.urandom: every restored copy draws its own jitter
    from market_data import db, tracing

    db.close_pool()  # nothing should be open, but a connection must never be shared
    _forget_aws_clients()
    tracing.forget_credentials()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()  # secrets read before the snapshot are read again


def _forget_aws_clients() -> None:
    keys_aws = sys.modules.get("market_data.keys.aws")
    if keys_aws is not None:
        with keys_aws._clients_lock:
            keys_aws._clients.clear()


def register(warm_up: Callable[[], None] | None = None) -> bool:
    """Register both hooks (idempotent); False when snapshot_restore_py is missing.

    `warm_up`: work the handler leaves for first use, to do before the snapshot.
    """
    if warm_up is not None and warm_up not in _warm_ups:
        _warm_ups.append(warm_up)
    try:
        from snapshot_restore_py import (
            get_after_restore,
            get_before_snapshot,
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:  # not in the layer: nothing to register with
        return False
    if not any(entry[0] is before_snapshot for entry in get_before_snapshot()):
        register_before_snapshot(before_snapshot)
    if not any(entry[0] is after_restore for entry in get_after_restore()):
        register_after_restore(after_restore)
    return True
