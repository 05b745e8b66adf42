"""JSON -> the dataclasses in `models`: strict about what the client relies on, lenient
about what it does not know yet.

A field the server left out (and that has no default) or a value of the wrong
type raises `DecodeError` naming the path; members the client does not model
are ignored, so a server that adds a field keeps working with an older client.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from mdw_client.errors import DecodeError

T = TypeVar("T")

_HINTS: dict[type, dict[str, Any]] = {}


def type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (cached)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def parse_time(value: Any, path: str = "time") -> datetime:
    """An RFC 3339 timestamp from the API (`2024-01-02T05:00:00Z`) as an aware datetime."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise DecodeError(f"{path}: expected a timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(f"{path}: {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise DecodeError(f"{path}: {value!r} has no UTC offset")
    return parsed


def decode(cls: type[T], data: Any, path: str | None = None) -> T:
    """An instance of dataclass `cls` from a decoded JSON object."""
    where = path or cls.__name__
    if not isinstance(data, Mapping):
        raise DecodeError(f"{where}: expected an object, got {type(data).__name__}")
    hints = type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        if field.name in data:
            values[field.name] = _value(
                hints[field.name], data[field.name], f"{where}.{field.name}"
            )
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise DecodeError(f"{where}: the response has no '{field.name}'")
    return cls(**values)


def _value(hint: Any, value: Any, path: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            if len(options) < len(get_args(hint)):
                return None
            raise DecodeError(f"{path}: must not be null")
        return _value(options[0], value, path)
    if value is None:
        raise DecodeError(f"{path}: must not be null")
    if origin is list:
        if not isinstance(value, list):
            raise DecodeError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = get_args(hint)
        return [_value(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise DecodeError(f"{path}: expected an object, got {type(value).__name__}")
        _, item = get_args(hint)
        return {str(k): _value(item, v, f"{path}.{k}") for k, v in value.items()}
    if hint is datetime:
        return parse_time(value, path)
    if hint is date:
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise DecodeError(f"{path}: expected a YYYY-MM-DD date, got {value!r}") from None
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is bool or hint is str:
        if isinstance(value, hint):
            return value
    elif dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return decode(hint, value, path)
    else:
        raise TypeError(f"{path}: the decoder does not handle {hint!r}")
    raise DecodeError(f"{path}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
