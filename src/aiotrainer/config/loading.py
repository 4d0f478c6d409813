"""Loading a config: the file, then environment variables, then ``--set``.

Precedence, lowest first (a later one wins, key by key):

1. the defaults of :class:`~aiotrainer.config.ServiceConfig`;
2. the file (YAML ``.yaml``/``.yml``, TOML ``.toml`` or JSON ``.json``);
3. environment variables ``AIOTRAINER__SECTION__KEY=value`` (nested with
   ``__``, read by pydantic-settings; values that look like JSON are parsed);
   two that set the same key, or a key and one inside it, are refused;
4. ``--set section.key=value`` overrides (values parsed as YAML scalars).

Every problem is reported as one line ``path.to.field: what is wrong (got X)``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .errors import ConfigError
from .models import ServiceConfig

__all__ = ["ENV_PREFIX", "load_config", "parse_overrides", "read_file"]

ENV_PREFIX = "AIOTRAINER__"
"""Environment variables that start with it override the file."""

_SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML", ".json": "JSON"}


class _EnvReader(BaseSettings, ServiceConfig):
    """ServiceConfig's fields, for pydantic-settings' environment source."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )


# -- the file ------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does.

    PyYAML follows YAML 1.1, whose floats need a dot: ``lr: 1e-3`` would be the
    string ``'1e-3'``, accepted by ``validate`` and failing in ``train()``."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str, where: str) -> object:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        duplicates: list[str] = []
        _yaml_duplicates(node, "", duplicates, set())
        if duplicates:
            raise ConfigError(duplicates, source=where)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unreadable"
        raise ConfigError([f"{where}: invalid YAML{at}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: invalid YAML: {exc}"]) from None
    finally:
        loader.dispose()


def _yaml_duplicates(
    node: yaml.Node, path: str, out: list[str], seen_nodes: set[int]
) -> None:
    if id(node) in seen_nodes:
        return  # an alias of a node already checked (perhaps its own parent)
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            sub = f"{path}.{key}" if path else str(key)
            if key in seen:
                out.append(
                    f"{sub}: duplicate name at line {key_node.start_mark.line + 1} "
                    f"(first at line {seen[key]}) (got {key!r})"
                )
            else:
                seen[key] = key_node.start_mark.line + 1
            _yaml_duplicates(value_node, sub, out, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _yaml_duplicates(item, f"{path}.{i}" if path else str(i), out, seen_nodes)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object before its keys are checked for duplicates."""


def _json(text: str, where: str) -> object:
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [
                f"{where}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ]
        ) from None
    duplicates: list[str] = []
    data = _json_objects(raw, "", duplicates)
    if duplicates:
        raise ConfigError(duplicates, source=where)
    return data


def _json_objects(value: object, path: str, out: list[str]) -> object:
    if isinstance(value, _Pairs):
        obj: dict[str, Any] = {}
        for key, item in value:
            sub = f"{path}.{key}" if path else key
            if key in obj:
                out.append(f"{sub}: duplicate name (got {key!r})")
            obj[key] = _json_objects(item, sub, out)
        return obj
    if isinstance(value, list):
        return [_json_objects(v, f"{path}.{i}", out) for i, v in enumerate(value)]
    return value


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a config file into a dict, by its extension.

    :raises ConfigError: for a missing or unreadable file, an unknown extension,
        a syntax error (with its line and column), a duplicate key, or a document
        that is not a mapping.
    """
    file = Path(path)
    where = str(file)
    kind = _SUFFIXES.get(file.suffix.lower())
    if kind is None:
        raise ConfigError(
            [
                f"{where}: unknown config file extension; expected one of "
                + f"{', '.join(sorted(_SUFFIXES))} (got {file.suffix or 'none'!r})"
            ]
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{where}: no such config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{where}: cannot read it: {exc}"]) from None
    try:
        if kind == "YAML":
            data = _yaml(text, where)
        elif kind == "JSON":
            data = _json(text, where)
        else:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError([f"{where}: invalid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(
            [f"{where}: invalid {kind}: nested too deeply to read"]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{where}: expected a mapping of sections (got {type(data).__name__})"]
        )
    return data


# -- overrides -----------------------------------------------------------------


def _scalar(text: str, *, free: bool) -> Any:
    """A value given as text: ``null`` is None and ``[...]``/``{...}`` are parsed
    as YAML; under a component's ``args`` (``free``, no declared type to coerce
    to) every value is parsed as YAML (``2`` an int, ``true`` a bool). Elsewhere
    the field's type converts the text (``"2"`` for an int field is 2)."""
    stripped = text.strip()
    if not (free or stripped in ("null", "~") or stripped[:1] in ("[", "{")):
        return text
    try:
        return yaml.load(text, Loader=_Loader) if stripped else text
    except yaml.YAMLError:
        return text


def _parse_args_text(value: Any, *, free: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            k: _parse_args_text(v, free=free or k == "args") for k, v in value.items()
        }
    if isinstance(value, str):
        return _scalar(value, free=free)
    return value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["state.dir=/tmp/x", "workers.max_workers=2"]`` into a nested dict.

    ``null`` is None and ``[...]``/``{...}`` are parsed as YAML; values under a
    component's ``args`` are all parsed as YAML (``2`` an int, ``true`` a
    bool); elsewhere the field's declared type converts the text.

    :raises ConfigError: for an item without ``=`` or with an empty key part.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            problems.append(
                f"--set: expected key.path=value, e.g. state.dir=/tmp/x (got {item!r})"
            )
            continue
        value = _scalar(text, free="args" in parts[:-1])
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    if problems:
        raise ConfigError(problems)
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _undecodable(ours: Mapping[str, str | None]) -> list[str]:
    """The variables that set a whole section to text that is not JSON (what is
    wrong and where, not the text: it may hold a secret such as a token)."""
    problems = []
    for key, value in sorted(ours.items()):
        if "__" in key[len(ENV_PREFIX) :]:
            continue  # one key: its field's type converts the text
        try:
            json.loads(value or "")
        except json.JSONDecodeError as exc:
            problems.append(
                f"{key.upper()}: expected a JSON object for the whole section, or "
                f"one variable a key ({key.upper()}__<KEY>) (got text that is not "
                f"JSON: {exc.msg[:1].lower()}{exc.msg[1:]} at column {exc.colno})"
            )
    return problems


def _names_in_any_case(path: tuple[str, ...]) -> bool:
    """Whether pydantic-settings matches the keys at ``path`` in any case.

    It does so for a section's fields (``{"DIR": ...}`` in ``AIOTRAINER__STATE``
    sets ``state.dir``), following fields from the top; it keeps the case of a
    name under a map such as ``trainers`` and of everything below it."""
    current: Any = ServiceConfig
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return False
        field = current.model_fields.get(part)
        if field is None:
            return False
        current = _unwrap(field.annotation)
    return isinstance(current, type) and issubclass(current, BaseModel)


def _paths_set(name: str, value: str) -> list[tuple[str, ...]]:
    """The config paths an ``AIOTRAINER__*`` variable sets: its own, or, for a
    JSON object, each key path inside it, with each key in the case that
    pydantic-settings gives it (the name's parts lower-cased)."""
    path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        return [path]
    out: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [(path, document)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict) and node:
            fold = _names_in_any_case(where)
            stack += [
                ((*where, str(k).lower() if fold else str(k)), v)
                for k, v in node.items()
            ]
        else:
            out.append(where)
    return out


def _conflicts(ours: Mapping[str, str]) -> list[str]:
    """Pairs of variables that set the same key, or a key and one inside it
    (pydantic-settings would merge them, one silently lost). The values are
    left out: one may be a secret such as ``api.token``."""
    problems = []
    paths = {name: _paths_set(name, value) for name, value in ours.items()}
    names = sorted(ours)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            overlap = next(
                (
                    min(a, b, key=len)
                    for a in paths[first]
                    for b in paths[second]
                    if a[: len(b)] == b or b[: len(a)] == a
                ),
                None,
            )
            if overlap is not None:
                problems.append(
                    f"{'.'.join(overlap)}: set by both {first} and {second}; "
                    "set it once"
                )
    return problems


def _environment(environ: Mapping[str, str] | None) -> dict[str, Any]:
    source = EnvSettingsSource(_EnvReader)
    given = os.environ if environ is None else environ
    problems = _conflicts(
        {k: v for k, v in given.items() if k.upper().startswith(ENV_PREFIX)}
    )
    if environ is not None:
        source.env_vars = {k.lower(): v for k, v in environ.items()}
    ours = {
        k: v for k, v in source.env_vars.items() if k.startswith(ENV_PREFIX.lower())
    }
    sections = list(ServiceConfig.model_fields)
    for key in sorted(ours):
        section = key[len(ENV_PREFIX) :].split("__", 1)[0]
        if section not in sections:
            close = difflib.get_close_matches(section, sections, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "expected one of: " + (", ".join(sections))
            )
            # the value is left out: it may be a secret (AIOTRAINER__AP__TOKEN)
            problems.append(f"{key.upper()}: unknown section {section!r}; {hint}")
    try:
        values = dict(source())
    except Exception as exc:  # noqa: BLE001 - a value it cannot decode
        problems += _undecodable(ours) or [f"{ENV_PREFIX}*: {exc}"]
        values = {}
    if problems:
        raise ConfigError(problems)
    parsed = _parse_args_text(values)
    assert isinstance(parsed, dict)
    return parsed


# -- errors --------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """The model or dict type inside Optional/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    return annotation


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose field ``loc``'s last part would be."""
    current: Any = ServiceConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = _unwrap(field.annotation)
        elif typing.get_origin(current) is dict:
            current = _unwrap(typing.get_args(current)[1])
        else:
            return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``path.to.field: what is wrong (got X)`` line per error."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "config"
        kind = err["type"]
        message = str(err["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
            expected = f"expected one of: {', '.join(known)}" if known else ""
            message = "unknown key; " + (hint or expected)
        elif kind == "missing":
            lines.append(f"{path}: required, but missing")
            continue
        if "(got " not in message:
            message = f"{message} (got {_short(err.get('input'))})"
        lines.append(f"{path}: {message[0].lower()}{message[1:]}")
    return lines


# -- the whole --------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> ServiceConfig:
    """Load and check a config: the file, then the environment, then overrides.

    Nothing is imported or built yet; :meth:`ServiceConfig.build_service` does
    that. References between sections (a trainer's models and buffers, a
    source's buffer) are checked here.

    :param path: the config file; ``None``: start from the defaults.
    :param overrides: ``"key.path=value"`` items, as given to ``--set``.
    :param environ: the environment to read (``os.environ`` by default).
    :return: the checked config.
    :raises ConfigError: with every problem, one per line.
    """
    data = read_file(path) if path is not None else {}
    data.pop("$schema", None)  # an editor's pointer to the JSON Schema
    data = _merge(data, _environment(environ))
    data = _merge(data, parse_overrides(overrides))
    try:
        config = ServiceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc),
            source=str(path) if path is not None else None,
        ) from None
    problems = config.reference_problems()
    if problems:
        raise ConfigError(problems, source=str(path) if path is not None else None)
    return config
