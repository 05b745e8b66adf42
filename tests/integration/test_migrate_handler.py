import psycopg
from psycopg.conninfo import make_conninfo

from devtools.lambda_context import FakeLambdaContext, load_event
from market_data.settings import Settings


def test_migrate_handler_applies_everything_then_nothing(settings: Settings) -> None:
    url = str(settings.database_url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "mdw_migrate_handler" WITH (FORCE)')
        admin.execute('CREATE DATABASE "mdw_migrate_handler"')
    from migrate import handler

    handler.settings.use(
        settings.model_copy(
            update={"database_url": make_conninfo(url, dbname="mdw_migrate_handler")}
        )
    )
    try:
        first = handler.lambda_handler(load_event("migrate"), FakeLambdaContext())
        second = handler.lambda_handler(load_event("migrate"), FakeLambdaContext())
    finally:
        handler.settings.use(None)
    assert first["applied"] and first["applied"][0] == "0001_warehouse"
    assert second["applied"] == []
    assert first["legacy_bars_left"] == second["legacy_bars_left"] == 0
