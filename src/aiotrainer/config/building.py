"""From a checked config to live objects: components by import path, the service.

Every problem is collected, with the config path it belongs to, before anything
is raised, so one ``aiotrainer validate`` lists all of them.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..data.buffer import DataBuffer
from ..model.interface import TrainingModel
from ..time import get_global_time_controller
from ..trainer.base import Trainer
from ..trainer.conditions import Condition
from .errors import ConfigError

if TYPE_CHECKING:
    from ..data.collector import DataCollector
    from ..service import TrainerService
    from .models import ComponentConfig, ServiceConfig

__all__ = ["Source", "build_service", "build_sources", "resolve_target"]

Source = Callable[["DataCollector[Any]"], Awaitable[None]]
"""A running source: called with its collector, returns when done or cancelled."""

_Problems = list[str]


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_target(target: str) -> object:
    """Import ``'package.module:Name'`` (``Name`` may be dotted) and return it.

    :raises ImportError: when the module cannot be imported or has no such name;
        the message says which, with the nearest name when one is close.
    """
    module_name, _, attr_path = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ImportError(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise ImportError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    where = module_name
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            public = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, public, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ImportError(f"{where!r} has no attribute {part!r}{hint}") from None
        where = f"{where}.{part}"
    return obj


def _factory(
    path: str, spec: ComponentConfig, expected: type, problems: _Problems
) -> Any:
    """The imported ``target``, checked to be able to make an ``expected``; None
    on error."""
    try:
        factory = resolve_target(spec.target)
    except ImportError as exc:
        problems.append(f"{path}.target: {exc} (got {spec.target!r})")
        return None
    if isinstance(factory, type) and not issubclass(factory, expected):
        problems.append(
            f"{path}.target: expected a subclass of {expected.__name__} "
            f"(got class {factory.__module__}.{factory.__qualname__})"
        )
        return None
    if not callable(factory):
        problems.append(
            f"{path}.target: expected a class or factory, not a "
            f"{type(factory).__name__} (got {spec.target!r})"
        )
        return None
    return factory


def _construct(
    path: str,
    spec: ComponentConfig,
    expected: type,
    problems: _Problems,
    **extra: Any,
) -> Any:
    """``target(**args, **extra)``, checked to be an ``expected``; None on error."""
    factory = _factory(path, spec, expected, problems)
    if factory is None:
        return None
    try:
        obj = factory(**spec.args, **extra)
    except Exception as exc:  # noqa: BLE001 - reported with its config path
        where = f"{path}.args" if isinstance(exc, TypeError | ValueError) else path
        problems.append(
            f"{where}: {spec.target}(...) raised {type(exc).__name__}: {exc} "
            f"(got {_short(spec.args)})"
        )
        return None
    if not isinstance(obj, expected):
        problems.append(
            f"{path}.target: expected it to build a {expected.__name__} "
            f"(got {type(obj).__name__} from {spec.target!r})"
        )
        return None
    return obj


_SERVICE_PREFIX = re.compile(r"trainer '([^']*)': (.*)", re.DOTALL)


def build_service(config: ServiceConfig) -> TrainerService:
    """Build every component, then the :class:`~aiotrainer.TrainerService`.

    :raises ConfigError: listing every problem found, one per line.
    """
    from ..service import TrainerService

    problems = config.reference_problems()
    models = {
        name: _construct(f"models.{name}", spec, TrainingModel, problems)
        for name, spec in config.models.items()
    }
    buffers = {
        name: _construct(f"buffers.{name}", spec, DataBuffer, problems)
        for name, spec in config.buffers.items()
    }
    trainers = {}
    for name, spec in config.trainers.items():
        extra: dict[str, Any] = {}
        if spec.condition is not None:
            condition = _construct(
                f"trainers.{name}.condition", spec.condition, Condition, problems
            )
            if condition is None:  # the trainer's own target is still checked
                _factory(f"trainers.{name}", spec, Trainer, problems)
                continue
            extra["condition"] = condition
        trainers[name] = _construct(
            f"trainers.{name}", spec, Trainer, problems, **extra
        )
    if problems:
        raise ConfigError(problems)
    # the clock is process-wide, as in pamiq-core; its scale is set as launch() does
    get_global_time_controller().set_time_scale(config.clock.time_scale)
    try:
        return TrainerService(models, buffers, trainers, **config.service_kwargs())
    except (TypeError, ValueError, KeyError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        match = _SERVICE_PREFIX.fullmatch(message)
        if match:
            raise ConfigError([f"trainers.{match[1]}: {match[2]}"]) from exc
        raise ConfigError([f"config: {message}"]) from exc


def _as_source(path: str, target: str, obj: object, args: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(obj):
        inspect.signature(obj).bind(None, **args)  # TypeError names a bad argument
        return functools.partial(obj, **args) if args else obj
    if isinstance(obj, type):
        instance = obj(**args)
        call = getattr(instance, "__call__", None)  # noqa: B004
        if inspect.iscoroutinefunction(call):
            return instance
        raise TypeError(
            f"{path}.target: instances of {obj.__qualname__} must have an "
            f"'async def __call__(self, collector)' (got {target!r})"
        )
    raise TypeError(
        f"{path}.target: expected an async function or a class whose instances are "
        f"async callables (got {type(obj).__name__} {target!r})"
    )


def build_sources(config: ServiceConfig) -> dict[str, Source]:
    """Build every source: an async callable to call with its collector.

    :raises ConfigError: listing every problem found, one per line.
    """
    problems = [p for p in config.reference_problems() if p.startswith("sources.")]
    sources: dict[str, Source] = {}
    for name, spec in config.sources.items():
        path = f"sources.{name}"
        try:
            obj = resolve_target(spec.target)
        except ImportError as exc:
            problems.append(f"{path}.target: {exc} (got {spec.target!r})")
            continue
        try:
            sources[name] = _as_source(path, spec.target, obj, spec.args)
        except TypeError as exc:
            text = str(exc)
            problems.append(text if text.startswith(path) else f"{path}.args: {text}")
        except Exception as exc:  # noqa: BLE001 - reported with its config path
            problems.append(
                f"{path}: {spec.target}(...) raised {type(exc).__name__}: {exc} "
                f"(got {_short(spec.args)})"
            )
    if problems:
        raise ConfigError(problems)
    return sources
