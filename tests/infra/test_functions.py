"""Lambda functions: runtime, architecture, tracing, logs, one code asset, environment."""

from __future__ import annotations

import pytest

from infra.constants import (
    API_HANDLER,
    BACKFILL_HANDLER,
    EXPORT_HANDLER,
    FANOUT_HANDLER,
    MIGRATE_HANDLER,
)
from infra.functions import SAM_LOCAL_ENVIRONMENT
from market_data import metric_names
from tests.infra.conftest import Synth, app_functions, function_by_handler, resources_of

HANDLERS = [API_HANDLER, FANOUT_HANDLER, BACKFILL_HANDLER, MIGRATE_HANDLER, EXPORT_HANDLER]


def test_the_five_handlers_exist(dev: Synth) -> None:
    handlers = sorted(
        f["Properties"]["Handler"] for f in app_functions(dev.stateless_json).values()
    )
    assert handlers == sorted(HANDLERS)


def test_functions_are_python_312_arm64_traced_with_json_logs(any_stage: Synth) -> None:
    template = any_stage.stateless_json
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    for function in app_functions(template).values():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        logging = properties["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        assert logging["LogGroup"]["Ref"] in log_groups
        assert "RetentionInDays" in log_groups[logging["LogGroup"]["Ref"]]["Properties"]
        assert properties["MemorySize"] >= 256
        assert properties["Timeout"] <= 900
        # The shared dependency layer; the export function adds its Parquet layer.
        extra = 1 if properties["Handler"] == EXPORT_HANDLER else 0
        assert len(properties["Layers"]) == 1 + extra
        assert "VpcConfig" in properties


def test_all_functions_ship_one_code_asset_and_the_layer_has_asset_metadata(dev: Synth) -> None:
    template = dev.stateless_json
    paths = {
        function["Metadata"]["aws:asset:path"] for function in app_functions(template).values()
    }
    assert len(paths) == 1
    for function in app_functions(template).values():
        assert function["Metadata"]["aws:asset:property"] == "Code"
    layers = resources_of(template, "AWS::Lambda::LayerVersion").values()
    assert len(layers) == 2  # the shared dependency layer and the export function's
    for layer in layers:
        assert layer["Metadata"]["aws:asset:property"] == "Content"
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def test_every_lambda_resource_in_every_template_has_asset_metadata(any_stage: Synth) -> None:
    """What `sam local invoke/start-api` reads to find each function's code on disk."""
    for template in (any_stage.stateful_json, any_stage.stateless_json):
        for resource_type, prop in (
            ("AWS::Lambda::Function", "Code"),
            ("AWS::Lambda::LayerVersion", "Content"),
        ):
            for logical_id, resource in resources_of(template, resource_type).items():
                metadata = resource.get("Metadata", {})
                assert metadata.get("aws:asset:property") == prop, logical_id
                assert (any_stage.outdir / metadata["aws:asset:path"]).is_dir(), logical_id


def test_the_code_asset_holds_the_handlers_and_no_junk(dev: Synth) -> None:
    (function, *_) = app_functions(dev.stateless_json).values()
    asset = dev.outdir / function["Metadata"]["aws:asset:path"]
    names = {path.relative_to(asset).as_posix() for path in asset.rglob("*")}
    for package in ("api", "fanout", "backfill", "migrate", "market_data"):
        assert package in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[-1] in {"tests", "conftest.py"}]


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_function_gets_powertools_and_database_settings(dev: Synth, handler: str) -> None:
    _, function = function_by_handler(dev.stateless_json, handler)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == metric_names.NAMESPACE
    assert env["POWERTOOLS_SERVICE_NAME"] == handler.split(".")[0]
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["LOG_LEVEL"] in {"DEBUG", "INFO"}
    assert env["STAGE"] == "dev"
    assert env["MARKET_DATA_PROVIDER"] == "polygon"
    assert env["DB_IAM_USER"] == "app"
    for name in ("DB_HOST", "DB_PORT", "DB_NAME"):
        assert name in env
    # Local-only variables appear with `-c sam_local=true` alone.
    local_only = set(SAM_LOCAL_ENVIRONMENT) - {"MARKET_DATA_PROVIDER"}
    assert local_only.isdisjoint(env)


def test_api_environment(dev: Synth, prod: Synth) -> None:
    _, api = function_by_handler(dev.stateless_json, API_HANDLER)
    env = api["Properties"]["Environment"]["Variables"]
    for name in (
        "API_KEYS_TABLE",
        "API_AUDIT_TABLE",
        "RATE_LIMIT_TABLE",
        "API_KEY_PEPPER_SECRET_ARN",
        "BACKFILL_QUEUE_URL",
    ):
        assert name in env
    assert "*" not in env["CORS_ALLOW_ORIGINS"]
    assert env["NIGHTLY_SCHEDULE_ENABLED"] == "true"  # the schedule's own state
    assert "DB_SECRET_ARN" not in env  # IAM auth as `app`, no password
    _, prod_api = function_by_handler(prod.stateless_json, API_HANDLER)
    prod_env = prod_api["Properties"]["Environment"]["Variables"]
    assert prod_env["CORS_ALLOW_ORIGINS"] == ""
    assert prod_api["Properties"]["ReservedConcurrentExecutions"] == 50


def test_worker_fanout_and_migrate_environment(dev: Synth) -> None:
    _, backfill = function_by_handler(dev.stateless_json, BACKFILL_HANDLER)
    env = backfill["Properties"]["Environment"]["Variables"]
    assert "POLYGON_SECRET_ARN" in env
    assert int(env["POLYGON_REQUESTS_PER_MINUTE"]) >= 1
    _, fanout = function_by_handler(dev.stateless_json, FANOUT_HANDLER)
    assert "BACKFILL_QUEUE_URL" in fanout["Properties"]["Environment"]["Variables"]
    _, migrate = function_by_handler(dev.stateless_json, MIGRATE_HANDLER)
    assert "DB_SECRET_ARN" in migrate["Properties"]["Environment"]["Variables"]
    for function in (fanout, migrate):
        assert "POLYGON_SECRET_ARN" not in function["Properties"]["Environment"]["Variables"]
