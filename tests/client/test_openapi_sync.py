"""The client kept in step with the server: its endpoint table and models against /openapi.json.

A server change that would break the client (a path, method, parameter or body
field gone or renamed, a response field removed, retyped or made nullable, a
new operation without a client method) fails here. Fields the server adds are
fine: the client ignores members it does not model.

Responses without a schema in the OpenAPI document (status, metrics, symbols)
are checked by decoding the real app's answers in test_service.py: the decoder
refuses a missing field or a wrong type.
"""

from __future__ import annotations

import dataclasses
import types
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

import pytest

from market_data import history
from market_data.keys.models import Scope
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from mdw_client import DEFAULT_PAGE_SIZE, MAX_SPAN, models
from mdw_client import _endpoints as ep
from mdw_client._decode import type_hints
from mdw_client.cli import build_parser

# Server operations the client does not call yet. Adding an endpoint to the server means
# adding it to clients/python (an entry in _endpoints.py and a method), not to this set.
NOT_YET_COVERED: set[tuple[str, str]] = set()

MODELS = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and "OPENAPI" in vars(cls)
]


@pytest.fixture(scope="module")
def openapi(settings: Settings) -> dict[str, Any]:
    from api.app import create_app

    document: dict[str, Any] = create_app(settings).openapi()
    return document


def schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = openapi["components"]["schemas"]
    return found


def resolve(schema: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas(openapi)[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def nullable(schema: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    options = schema.get("anyOf")
    if not options:
        return schema.get("type") == "null", schema
    rest = [o for o in options if o.get("type") != "null"]
    return len(rest) < len(options), (rest[0] if len(rest) == 1 else {"anyOf": rest})


def mismatch(hint: Any, schema: dict[str, Any], openapi: dict[str, Any], where: str) -> list[str]:
    """Why a client annotation cannot hold what the schema allows (empty: it can)."""
    if hint is Any:
        return []
    may_be_null, schema = nullable(schema)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        return mismatch(options[0], schema, openapi, where)
    if may_be_null:
        return [f"{where}: the server may send null; the client's {hint} does not allow it"]
    if dataclasses.is_dataclass(hint):
        ref = schema.get("$ref", "").rsplit("/", 1)[-1]
        expected = vars(hint).get("OPENAPI")
        if expected and ref != expected:
            return [f"{where}: server schema {ref or schema}, client model of {expected}"]
        return []
    target = resolve(schema, openapi)
    kind = target.get("type")
    if origin is list:
        if kind != "array":
            return [f"{where}: server type {kind}, client list"]
        return mismatch(get_args(hint)[0], target.get("items", {}), openapi, f"{where}[]")
    if origin is dict:
        if kind != "object":
            return [f"{where}: server type {kind}, client dict"]
        values = target.get("additionalProperties", True)
        return [] if values is True else mismatch(get_args(hint)[1], values, openapi, where)
    allowed = {
        str: {"string"},
        int: {"integer"},
        float: {"number", "integer"},
        bool: {"boolean"},
        datetime: {"string"},
        date: {"string"},
    }[hint]
    if kind not in allowed:
        return [f"{where}: server type {kind}, client {hint.__name__}"]
    if hint is datetime and target.get("format") != "date-time":
        return [f"{where}: server format {target.get('format')}, client datetime"]
    if hint is date and target.get("format") != "date":
        return [f"{where}: server format {target.get('format')}, client date"]
    return []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_response_model_matches_its_server_schema(
    model: type, openapi: dict[str, Any]
) -> None:
    name = model.OPENAPI  # type: ignore[attr-defined]
    assert name in schemas(openapi), f"the server has no schema {name} any more"
    schema = schemas(openapi)[name]
    properties, required = schema["properties"], set(schema.get("required", ()))
    client_only = vars(model).get("CLIENT_ONLY", frozenset())
    problems: list[str] = []
    for field in dataclasses.fields(model):
        if field.name in client_only:
            continue
        where = f"{model.__name__}.{field.name}"
        if field.name not in properties:
            problems.append(f"{where}: the server's {name} has no such field")
            continue
        has_default = not (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if not has_default and field.name not in required:
            problems.append(f"{where}: required by the client, optional on the server")
        problems += mismatch(type_hints(model)[field.name], properties[field.name], openapi, where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("endpoint", ep.ALL, ids=lambda e: f"{e.method} {e.path}")
def test_each_client_endpoint_exists_with_its_parameters(
    endpoint: ep.Endpoint, openapi: dict[str, Any]
) -> None:
    operation = openapi["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
    assert operation is not None, f"the server has no {endpoint.method} {endpoint.path}"

    parameters = operation.get("parameters", [])
    query = {p["name"] for p in parameters if p["in"] == "query"}
    path = {p["name"] for p in parameters if p["in"] == "path"}
    unknown = set(endpoint.query) - query - set(endpoint.upcoming)
    assert not unknown, f"the server does not take {sorted(unknown)}"
    assert path == {part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")}

    assert str(endpoint.status) in operation["responses"], operation["responses"].keys()
    success = operation["responses"][str(endpoint.status)]
    declared = success.get("content", {}).get("application/json", {}).get("schema", {})
    expected = vars(endpoint.response).get("OPENAPI") if endpoint.response else None
    if expected:
        assert declared.get("$ref", "").rsplit("/", 1)[-1] == expected

    body = operation.get("requestBody")
    if endpoint.body:
        assert body is not None, "the server takes no body here any more"
        schema = resolve(body["content"]["application/json"]["schema"], openapi)
        fields = set(schema["properties"])
        assert set(endpoint.body) <= fields, f"not on the server: {set(endpoint.body) - fields}"
        missing = set(schema.get("required", ())) - set(endpoint.body)
        assert not missing, f"the server requires fields the client cannot send: {missing}"
    else:
        assert body is None or not body.get("required"), "the server now requires a body"


def test_upcoming_parameters_are_not_on_the_server_yet_or_become_ordinary(
    openapi: dict[str, Any],
) -> None:
    """When the server gains an upcoming parameter, it must carry the client's name."""
    for endpoint in ep.ALL:
        operation = openapi["paths"][endpoint.path][endpoint.method.lower()]
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(endpoint.upcoming) <= set(endpoint.query)
        for name in set(endpoint.upcoming) & query:
            assert name in endpoint.query


def test_every_server_operation_has_a_client_method(openapi: dict[str, Any]) -> None:
    served = {
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "delete", "patch"}
    }
    covered = {(e.method, e.path) for e in ep.ALL}
    uncovered = served - covered - NOT_YET_COVERED
    assert not uncovered, (
        "server operations without a Python client method (add them to "
        f"clients/python/src/mdw_client/_endpoints.py and client.py): {sorted(uncovered)}"
    )
    assert not NOT_YET_COVERED & covered, "covered now: remove them from NOT_YET_COVERED"


def test_the_range_caps_and_page_size_mirror_the_servers() -> None:
    assert set(MAX_SPAN) == {t.value for t in Timeframe}
    for timeframe in Timeframe:
        assert MAX_SPAN[timeframe.value] == timeframe.max_span, timeframe
    assert DEFAULT_PAGE_SIZE == history.MAX_LIMIT


def test_the_command_lines_choices_are_the_servers() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]

    def choices(command: Any, option: str) -> set[str]:
        action = next(a for a in command._actions if option in a.option_strings)
        return set(action.choices)

    keys = commands["keys"]._subparsers._group_actions[0].choices
    assert choices(keys["create"], "--scope") == {s.value for s in Scope}
    tracked = commands["tracked"]._subparsers._group_actions[0].choices
    assert choices(tracked["add"], "--asset-class") == {a.value for a in AssetClass}
    assert choices(commands["bars"], "--sort") == {"asc", "desc"}
