from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from market_data.migrations import apply_migrations, available_migrations, ensure_app_role
from market_data.settings import Settings
from tests.helpers import fresh_database


def _migrate(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return apply_migrations(conn)


def test_migrations_apply_once_when_run_twice(settings: Settings) -> None:
    url = fresh_database(settings, "mdw_migrate_twice")
    everything = [m.version for m in available_migrations()]
    assert _migrate(url) == everything
    assert _migrate(url) == []


def test_concurrent_runners_apply_each_migration_exactly_once(settings: Settings) -> None:
    url = fresh_database(settings, "mdw_migrate_race")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results: list[Any] = list(pool.map(_migrate, [url] * 4))
    applied = [version for result in results for version in result]
    assert sorted(applied) == [m.version for m in available_migrations()]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert row is not None and row[0] == len(available_migrations())


def test_app_role_can_read_and_write_data_but_not_change_the_schema(settings: Settings) -> None:
    url = fresh_database(settings, "mdw_app_role")
    with psycopg.connect(url, autocommit=True) as owner:
        apply_migrations(owner)
        ensure_app_role(owner, "mdw_app_test")
        ensure_app_role(owner, "mdw_app_test")  # idempotent
    with psycopg.connect(make_conninfo(url, user="mdw_app_test"), autocommit=True) as app:
        app.execute("INSERT INTO symbols (symbol, asset_class) VALUES ('AAPL', 'stock')")
        assert app.execute("SELECT count(*) FROM symbols").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DROP TABLE bars")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE sneaky (id int)")
