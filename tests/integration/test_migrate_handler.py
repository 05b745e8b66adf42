from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from market_data.settings import Settings, get_settings
from tests.lambda_context import FakeLambdaContext, load_event


def test_migrate_handler_applies_everything_then_nothing(
    settings: Settings, monkeypatch: Any
) -> None:
    url = str(settings.database_url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "mdw_migrate_handler" WITH (FORCE)')
        admin.execute('CREATE DATABASE "mdw_migrate_handler"')
    monkeypatch.setenv("DATABASE_URL", make_conninfo(url, dbname="mdw_migrate_handler"))
    get_settings.cache_clear()
    try:
        from migrate.handler import lambda_handler

        first = lambda_handler(load_event("migrate"), FakeLambdaContext())
        second = lambda_handler(load_event("migrate"), FakeLambdaContext())
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert first["applied"] and first["applied"][0] == "0001_warehouse"
    assert second["applied"] == []
