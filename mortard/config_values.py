"""Settings values: a TOML table (or an environment override's text) checked and coerced into the
declared dataclass, key by key, with errors that name the key and what was expected."""
from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Mapping

from mortard.secret import Secret


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and what was expected."""


class EnvText(str):
    """A value from the environment: text that `build` may coerce to the declared type."""


def build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, checking every key and type; errors name the key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in raw:
        if key not in names:
            raise ConfigError(f"unknown key {where}.{key}: expected one of {', '.join(sorted(names))}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name in raw:
            kwargs[f.name] = _coerce(hints[f.name], raw[f.name], key)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"missing key {key}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, EnvText) and value == "" and type(None) in args):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value")
    if tp is Any or tp is Secret:
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(str, args))}, got {_describe(value)}")
        return value
    if is_dataclass(tp):
        return build(tp, value, key)
    if origin is tuple:
        items = value.split(",") if isinstance(value, EnvText) else value
        if isinstance(items, str) or not isinstance(items, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_describe(value)}")
        return tuple(_coerce(args[0], item.strip() if isinstance(item, str) else item, key) for item in items if item != "")
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {_describe(value)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, EnvText):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {_describe(value)}")
    if tp is int:
        if isinstance(value, EnvText):
            try:
                return int(value)
            except ValueError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected a whole number, got {_describe(value)}")
    if tp is float:
        if isinstance(value, EnvText):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{key}: expected text, got {_describe(value)}")
    raise ConfigError(f"{key}: unsupported setting type {tp!r}")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"{value!r}" if len(value) < 40 else "text"
    return type(value).__name__
