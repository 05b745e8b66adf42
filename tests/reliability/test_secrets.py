"""No secret leaves through logs, traces, error bodies or the CloudFormation template.

The secrets: the Polygon API key, a database password, the API-key pepper, an
admin API key and a key the API issues. Every Lambda handler runs with them set
(logging at DEBUG, urllib3 and botocore included, through failures: vendor 502
and 403, a rejected key, a bad request), with tracing on and its spans kept in
memory instead of exported. Then each secret is searched for everywhere it could have gone.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
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


class RecordedTraces:
    """What the handlers would export: OpenTelemetry spans in memory, as text."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter

    @property
    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def text(self) -> str:
        lines = []
        for span in self.spans:
            events = [(e.name, dict(e.attributes or {})) for e in span.events]
            lines.append(
                f"{span.name} {span.kind} {dict(span.attributes or {})!r} "
                f"{span.status.description!r} {events!r}"
            )
        return "\n".join(lines)


@pytest.fixture
def traces() -> Iterator[RecordedTraces]:
    """Tracing on, exported to memory, exactly as in Lambda but for the exporter."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from market_data import tracing

    exporter = InMemorySpanExporter()
    tracing.install(exporter, batch=False)
    yield RecordedTraces(exporter)
    tracing.uninstall()


@pytest.fixture
def secret_environment(
    traces: RecordedTraces,  # on before the pool, so its connections trace their SQL
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
    traces: RecordedTraces,
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
    assert migrate_handler.lambda_handler(load_event("migrate"), context) == {
        "applied": [],
        "legacy_bars_left": 0,
    }

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
        "traces (OpenTelemetry spans)": traces.text(),
        "API answers": "\n".join(json.dumps(a) for a in answers),
        "the key-creation answer's headers": json.dumps(created.get("headers")),
    }
    assert traces.spans, "the exporter saw nothing: the test would be blind"
    assert "urllib3" in places["logging records"], "urllib3 DEBUG lines were not captured"
    for name, secret in secrets.items():
        for place, text in places.items():
            assert secret not in text, f"the {name} is in the {place}"


def test_handlers_put_no_response_into_traces(
    secret_environment: Settings, traces: RecordedTraces, conn: Connection[Any]
) -> None:
    from api import handler as api_handler

    response = api_handler.lambda_handler(load_event("api_health"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert '"status"' not in traces.text(), traces.text()


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


def test_each_invocation_is_one_trace_with_sql_dynamodb_sqs_and_vendor_spans(
    secret_environment: Settings,
    conn: Connection[Any],
    key_services: Any,
    admin_key: str,
    fake_polygon: FakePolygon,
    backfill_queue: str,
    traces: RecordedTraces,
) -> None:
    from opentelemetry.trace import SpanKind

    from api import handler as api_handler
    from api.auth import get_key_services
    from backfill import handler as backfill_handler
    from fanout import handler as fanout_handler

    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2024, 1, 1), utc(2024, 3, 1))
    context = FakeLambdaContext()
    app = api_handler.asgi_handler.app
    app.dependency_overrides[get_key_services] = lambda: key_services
    try:
        keyed = api_handler.lambda_handler(
            api_event("GET", "/api/v1/admin/api-keys", key=admin_key), context
        )
        page = api_handler.lambda_handler(
            api_event("GET", "/api/v1/historical/AAPL", query={"start": "2024-01-02"}), context
        )
    finally:
        app.dependency_overrides.clear()
    assert keyed["statusCode"] == page["statusCode"] == 200
    fake_polygon.script("AAPL", Reply(body=page_of_one()))
    assert fanout_handler.lambda_handler(load_event("schedule_nightly"), context)["enqueued"]
    while deliver(backfill_handler, backfill_queue):
        pass

    spans = traces.spans
    roots = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in roots][:4] == ["api", "api", "fanout", "backfill"]
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    # One trace per invocation; the spans outside any (the test's own SQL) are roots.
    assert len({r.context.trace_id for r in roots}) == len(roots)
    orphans = [s for s in spans if s.parent is None and s.kind is not SpanKind.SERVER]
    for root in roots:
        assert not [s for s in orphans if s.context.trace_id == root.context.trace_id]
    for root in roots:
        assert root.parent is None or root.parent.is_remote
        assert root.attributes["correlation_id"]
        assert root.attributes["faas.invocation_id"] == context.aws_request_id

    def children(root: Any) -> list[str]:
        return [s.name for s in by_trace[root.context.trace_id] if s is not root]

    keyed_root, page_root, fanout_root, backfill_root = roots[:4]
    # The id the JSON logs carry as correlation_id and the API answers as X-Trace-ID.
    headers = {k.lower(): v for k, v in keyed["headers"].items()}
    assert keyed_root.attributes["correlation_id"] == headers["x-trace-id"]
    assert "DynamoDB.GetItem" in children(keyed_root), children(keyed_root)
    assert any(n.startswith("postgresql ") for n in children(page_root)), children(page_root)
    assert "SQS.SendMessageBatch" in children(fanout_root), children(fanout_root)
    assert "polygon GET" in children(backfill_root), children(backfill_root)
    assert any(n.startswith("postgresql") for n in children(backfill_root))
    sql = [s for s in spans if s.name.startswith("postgresql")]
    assert "AAPL" not in " ".join(str(s.attributes["db.query.text"]) for s in sql)


def page_of_one() -> Any:
    return page([bar(utc(2024, 3, 4, 5), 1, 2, 1, 2)])


def test_tracing_is_on_where_spans_can_go_and_follows_the_switch() -> None:
    from market_data.tracing import _enabled_by_environment as on

    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "api", "LAMBDA_TASK_ROOT": "/var/task"}
    xray = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.us-east-1.amazonaws.com/v1/traces"}
    assert not on({})
    assert not on(lambda_env)  # active tracing's own segments only
    assert on({**lambda_env, **xray})
    assert not on({**lambda_env, **xray, "POWERTOOLS_TRACE_DISABLED": "true"})
    assert on({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})  # make dev + a collector
    assert not on({**xray, "AWS_SAM_LOCAL": "true"})
