"""No secret leaves through logs, traces, error bodies or the CloudFormation template.

The secrets: the Polygon API key, a database password, the API-key pepper, an
admin API key and a key the API issues. Every Lambda handler runs with them set
(logging at DEBUG, urllib3 and botocore included, through failures: vendor 502
and 403, a rejected key, a bad request), with a recording X-Ray provider in place
of the real one. Then each secret is searched for everywhere it could have gone.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from psycopg import Connection
from psycopg.conninfo import make_conninfo

from devtools.lambda_context import FakeLambdaContext, load_event
from market_data import db
from market_data.keys.format import CHECKSUM_LENGTH, PREFIX
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.fake_polygon import API_KEY as POLYGON_KEY
from tests.fake_polygon import AUTHORIZATION, FakePolygon, Reply, bar, page
from tests.helpers import seed_series, utc
from tests.key_fakes import TEST_PEPPER
from tests.pipeline import deliver
from tests.reliability.secret_synth import CONTEXT_VALUES, SECRET_VALUES, all_text

DB_PASSWORD = "Db-Pa55word-never-logged-7c1e9f2a"


class RecordingSubsegment:
    def __init__(self, name: str, records: list[tuple[str, str, Any]]) -> None:
        self.name, self._records = name, records

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self._records.append(("metadata", f"{self.name}/{key}", value))

    def put_annotation(self, key: str, value: Any) -> None:
        self._records.append(("annotation", f"{self.name}/{key}", value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self._records.append(("exception", self.name, f"{exception!r} {stack!r}"))


class RecordingProvider:
    """Stands in for the X-Ray recorder: keeps what the handlers would send."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, Any]] = []

    @contextmanager
    def in_subsegment(self, name: str | None = None, **_: Any) -> Iterator[RecordingSubsegment]:
        yield RecordingSubsegment(name or "", self.records)

    def put_annotation(self, key: str, value: Any) -> None:
        self.records.append(("annotation", key, value))

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.records.append(("metadata", key, value))

    def text(self) -> str:
        return "\n".join(f"{kind} {key} {value!r}" for kind, key, value in self.records)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> RecordingProvider:
    from api import handler as api_handler
    from backfill import handler as backfill_handler
    from fanout import handler as fanout_handler

    provider = RecordingProvider()
    for module in (api_handler, backfill_handler, fanout_handler):
        monkeypatch.setattr(module.tracer, "provider", provider)
    return provider


@pytest.fixture
def secret_environment(
    settings: Settings,
    backfill_queue: str,
    key_settings: Settings,
    fake_polygon: FakePolygon,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """The deployed configuration with every secret set; a pool that logs in with the password.

    The test server trusts local connections, so the password is sent and ignored:
    what matters is that it is in the configuration the code handles."""
    url = make_conninfo(str(settings.database_url), password=DB_PASSWORD)
    env = {
        "DATABASE_URL": url,
        "BACKFILL_QUEUE_URL": backfill_queue,
        "MARKET_DATA_PROVIDER": "polygon",
        "POLYGON_API_KEY": POLYGON_KEY,
        "POLYGON_BASE_URL": fake_polygon.base_url,
        "POLYGON_MAX_RETRIES": "1",
        "POLYGON_BACKOFF_FACTOR_S": "0.01",
        "POLYGON_TIMEOUT_S": "2",
        "POLYGON_REQUESTS_PER_MINUTE": "60000",
        "API_KEY_PEPPER": TEST_PEPPER.decode(),
        "LOG_LEVEL": "DEBUG",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configured = Settings()  # as a Lambda function reads its configuration
    pool = db.create_pool(configured)
    monkeypatch.setattr(db, "_pool", pool)
    from api import handler as api_handler
    from backfill import handler as backfill_handler
    from fanout import handler as fanout_handler
    from migrate import handler as migrate_handler

    app_state = api_handler.asgi_handler.app.state
    built_with = app_state.settings
    app_state.settings = configured
    fanout_handler.settings.use(configured)
    migrate_handler.settings.use(configured)
    backfill_handler.use_settings(configured)
    yield configured
    backfill_handler.use_settings(None)
    migrate_handler.settings.use(None)
    fanout_handler.settings.use(None)
    app_state.settings = built_with
    pool.close()


def api_event(
    method: str, path: str, *, key: str | None = None, body: Any = None, query: Any = None
) -> dict[str, Any]:
    event = copy.deepcopy(load_event("api_health"))
    event.update(httpMethod=method, path=path, body=json.dumps(body) if body else None)
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    event["headers"].update(headers)
    event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    return event


def debug_logging(modules: list[ModuleType]) -> None:
    for module in modules:
        module.logger.setLevel(logging.DEBUG)


def test_no_secret_reaches_logs_traces_or_error_bodies_while_every_handler_runs(
    secret_environment: Settings,
    conn: Connection[Any],
    key_services: Any,
    admin_key: str,
    fake_polygon: FakePolygon,
    backfill_queue: str,
    traces: RecordingProvider,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from api import handler as api_handler
    from api.auth import get_key_services
    from backfill import handler as backfill_handler
    from fanout import handler as fanout_handler
    from migrate import handler as migrate_handler

    caplog.set_level(logging.DEBUG)
    debug_logging([api_handler, backfill_handler, fanout_handler, migrate_handler])
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 3, 1))
    context = FakeLambdaContext()

    # The API: a new key (shown once, in its own response only), reads, refusals.
    app = api_handler.asgi_handler.app
    app.dependency_overrides[get_key_services] = lambda: key_services
    try:
        created = api_handler.lambda_handler(
            api_event("POST", "/api/v1/admin/api-keys", key=admin_key, body={"name": "leak"}),
            context,
        )
        issued = json.loads(created["body"])["api_key"]
        answers = [
            api_handler.lambda_handler(event, context)
            for event in (
                api_event("GET", "/api/v1/admin/api-keys", key=admin_key),
                api_event("GET", "/api/v1/symbols", key=issued),
                api_event("GET", "/api/v1/admin/symbols", key=issued),  # 403
                api_event("GET", "/api/v1/symbols", key=issued[:-1] + "x"),  # 401
                api_event("GET", "/api/v1/historical/AAPL", query={"start": "2024-01-02"}),
                api_event("GET", "/api/v1/historical/AAPL", query={"start": "yesterday"}),  # 422
                api_event("GET", "/health", query={"deep": "true"}),
            )
        ]
    finally:
        app.dependency_overrides.clear()
    assert created["statusCode"] == 201
    assert [a["statusCode"] for a in answers] == [200, 200, 403, 401, 200, 422, 200]

    # The nightly path: fan-out, then the worker against a failing, then working vendor.
    from market_data.repositories.symbols import add_symbols

    add_symbols(conn, [("MSFT", AssetClass.STOCK)], [Timeframe.D1])
    monday = utc(2024, 3, 4, 5)
    fake_polygon.script(
        "AAPL", Reply(502, "bad gateway"), Reply(body=page([bar(monday, 1, 2, 1, 2)]))
    )
    fake_polygon.script("MSFT", Reply(403, {"status": "NOT_AUTHORIZED", "message": "upgrade"}))
    fanout = fanout_handler.lambda_handler(load_event("schedule_nightly"), context)
    assert fanout["enqueued"] > 0
    while deliver(backfill_handler, backfill_queue):
        pass
    # The key did travel (in the header, the only place the fake takes it from).
    assert {r.authorization for r in fake_polygon.requests} == {AUTHORIZATION}
    assert migrate_handler.lambda_handler(load_event("migrate"), context) == {"applied": []}

    printed = capsys.readouterr()
    secrets = {
        "Polygon API key": POLYGON_KEY,
        "database password": DB_PASSWORD,
        "API key pepper": TEST_PEPPER.decode(),
        "admin API key": admin_key,
        "issued API key": issued,
        # The random part alone must not leak either.
        "issued key body": issued[len(PREFIX) : -CHECKSUM_LENGTH],
    }
    places = {
        "stdout (Powertools logs and metrics)": printed.out,
        "stderr": printed.err,
        "logging records": "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
        ),
        "X-Ray traces": traces.text(),
        "API answers": "\n".join(json.dumps(a) for a in answers),
        "the key-creation answer's headers": json.dumps(created.get("headers")),
    }
    assert traces.records, "the recording provider saw nothing: the test would be blind"
    assert "urllib3" in places["logging records"], "urllib3 DEBUG lines were not captured"
    for name, secret in secrets.items():
        for place, text in places.items():
            assert secret not in text, f"the {name} is in the {place}"


def test_handlers_put_no_response_into_traces(
    secret_environment: Settings, traces: RecordingProvider, conn: Connection[Any]
) -> None:
    from api import handler as api_handler

    response = api_handler.lambda_handler(load_event("api_health"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert not [r for r in traces.records if r[1].endswith(" response")], traces.text()


def test_the_synthesized_templates_hold_no_secret_set_at_synth_time(secret_synth: Any) -> None:
    text = all_text(secret_synth)
    assert "REPLACE-ME-with-the-Polygon-API-key" in text, "the search would be blind"
    for name, value in {**SECRET_VALUES, **CONTEXT_VALUES}.items():
        assert value not in text, f"{name} set in the environment/context ended up in the assembly"


def test_functions_reference_secrets_only_by_secrets_manager_arn(secret_synth: Any) -> None:
    from tests.infra.conftest import app_functions, resources_of

    template = secret_synth.stateless_json
    secret_like = ("KEY", "PASSWORD", "PEPPER", "TOKEN", "SECRET", "DATABASE_URL")
    for logical_id, function in app_functions(template).items():
        variables = function["Properties"]["Environment"]["Variables"]
        for name, value in variables.items():
            if not any(word in name for word in secret_like) or name.endswith("_TABLE"):
                continue
            assert name.endswith("_SECRET_ARN"), f"{logical_id} has {name} in its environment"
            reference = json.dumps(value)
            assert "Secret" in reference and isinstance(value, dict), (logical_id, name, value)
    stateful = secret_synth.stateful_json
    secrets = resources_of(stateful, "AWS::SecretsManager::Secret")
    assert secrets, "no Secrets Manager secrets in the stateful stack"
    for logical_id, secret in secrets.items():
        properties = secret["Properties"]
        literal = properties.get("SecretString")
        # Generated by Secrets Manager, or a placeholder an operator replaces.
        assert (
            "GenerateSecretString" in properties or literal == "REPLACE-ME-with-the-Polygon-API-key"
        ), logical_id
    clusters = resources_of(stateful, "AWS::RDS::DBCluster")
    for cluster in clusters.values():
        assert cluster["Properties"].get("ManageMasterUserPassword") is True
        assert "MasterUserPassword" not in cluster["Properties"]
