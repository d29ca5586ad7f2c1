"""Strict loading of frozen config dataclasses from `params.yaml` (one section per stage).

Each stage owns a small frozen dataclass next to its code (e.g. `components.training.bootstrap.
BootstrapConfig`). This module turns a YAML mapping into such a dataclass and refuses unknown
keys and wrong types with a message that names the key, so a typo in `params.yaml` never becomes
a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A params file or section that does not match its dataclass; the message names the key."""


def read_params(path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read a params YAML file into a dict; a missing or unparsable file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (run from the repository root or pass --params)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def build(cls: type[T], data: Any, where: str = "") -> T:
    """Build dataclass `cls` from a mapping, recursively, refusing unknown keys and wrong types.

    Missing keys take the dataclass defaults. `where` is the dotted path used in messages. A
    field with `metadata={"derived": "<where it comes from>"}` is not a params key: it is filled
    from another section by the code that builds the stage (and refused here, saying so).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    derived = sorted(n for n in data if n in fields and fields[n].metadata.get("derived"))
    if derived:
        raise ConfigError(f"{where or cls.__name__}: {derived[0]!r} is not set here: it comes from "
                          f"{fields[derived[0]].metadata['derived']}")
    fields = {n: f for n, f in fields.items() if not f.metadata.get("derived")}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{where or cls.__name__}: unknown key {unknown[0]!r} (known keys: {known})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}" if where else name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp!r}")


def load_section(cls: type[T], section: str, path: Path | str = DEFAULT_PARAMS) -> T:
    """Load one section of a params file into `cls` (defaults where the section is absent)."""
    params = read_params(path)
    return build(cls, params.get(section), f"{Path(path).name}:{section}")


def as_flat_dict(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a (nested) config dataclass to `{"a.b": value}`, for logging as MLflow params."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(as_flat_dict(value, key + "."))
        else:
            out[key] = value
    return out
