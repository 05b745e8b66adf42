"""Applies the SQL migrations: run by a CDK Trigger on every deploy, and locally by make dev."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from market_data.db import conninfo
from market_data.migrations import apply_migrations, ensure_app_role
from market_data.settings import SettingsSource

logger = Logger()
settings = SettingsSource()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A direct connection, not the pool: this runs once per deploy and must
    # hold the advisory lock on one session for the whole run.
    config = settings.get()
    # A large data move stops short of the function's timeout; the next run goes on.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 30
    with psycopg.connect(conninfo(config, as_owner=True), autocommit=True) as conn:
        applied = apply_migrations(conn, deadline=deadline)
        if config.db_iam_user:
            ensure_app_role(conn, config.db_iam_user)
    logger.info("migrations applied", extra={"applied": applied})
    return {"applied": applied}
