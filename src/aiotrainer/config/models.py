"""The config file's schema: pydantic models for the whole service.

A :class:`ServiceConfig` maps onto :class:`~aiotrainer.TrainerService`'s
constructor arguments (:meth:`ServiceConfig.service_kwargs`) plus what only the
daemon uses: sources, the run limits, the API and logging. Components are named
by import path, ``{"target": "package.module:Name", "args": {...}}``, and only
resolved by :mod:`aiotrainer.config.building`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from ..service import TrainerService
    from .building import Source

__all__ = [
    "ApiConfig",
    "ComponentConfig",
    "ErrorPolicyConfig",
    "LoggingConfig",
    "RunConfig",
    "ServiceConfig",
    "SourceConfig",
    "StateConfig",
    "TrainerConfig",
    "WorkersConfig",
    "config_json_schema",
]

_TARGET = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_NAME = re.compile(r"[^./\\\0][^/\\\0]*")

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[PositiveFloat, Field(allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_names(kind: str, names: dict[str, Any]) -> dict[str, Any]:
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"a {kind} name names its directory in checkpoints: expected no "
                f"'/', '\\' or NUL and no leading '.' (got {name!r})"
            )
    return names


class ComponentConfig(_Section):
    """A component built from its import path: ``target(**args)``."""

    target: str = Field(
        description="'package.module:Name', the class (or factory) to call",
        examples=["aiotrainer.demo:LinearModel"],
    )
    args: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the call"
    )

    @field_validator("target")
    @classmethod
    def _target_form(cls, value: str) -> str:
        if not _TARGET.fullmatch(value):
            raise ValueError(
                f"expected an import path 'package.module:Name' (got {value!r})"
            )
        return value


class ErrorPolicyConfig(_Section):
    """What happens when a trainer's run raises (see ``ErrorPolicy``)."""

    action: Literal["stop", "retry", "disable"] = "stop"
    max_retries: int = Field(default=3, ge=0)
    backoff: Seconds = 0.5
    max_backoff: Seconds = 30.0
    exhausted: Literal["stop", "disable"] = "stop"


class TrainerConfig(ComponentConfig):
    """A trainer: its class, the models and buffers it uses, its error policy."""

    models: list[str] = Field(
        default_factory=list,
        description="the models it retrieves; each must be declared under 'models'",
    )
    buffers: list[str] = Field(
        default_factory=list,
        description="the buffers it reads; each must be declared under 'buffers'",
    )
    condition: ComponentConfig | None = Field(
        default=None,
        description="a Condition built by import path, passed as condition=...",
    )
    on_error: ErrorPolicyConfig = Field(
        default_factory=ErrorPolicyConfig,
        description="an action ('stop', 'retry', 'disable') or a whole policy",
    )

    @field_validator("on_error", mode="before")
    @classmethod
    def _action_alone(cls, value: object) -> object:
        return {"action": value} if isinstance(value, str) else value


class SourceConfig(ComponentConfig):
    """An in-process producer: an async callable (or a class whose instances are
    one) that is called with its buffer's collector and runs until cancelled."""

    buffer: str = Field(description="the buffer whose collector it receives")


class WorkersConfig(_Section):
    """The worker pool that runs trainers."""

    max_workers: PositiveInt = 1
    shutdown_timeout: Seconds = Field(
        default=30.0, description="seconds runs in flight get to finish at shutdown"
    )
    recheck_interval: PositiveSeconds = 1.0
    linger: Seconds = Field(
        default=0.1,
        description="seconds a worker may wait in place after a run for its "
        "trainer's next data, which then starts the next run directly (0: never)",
    )


class StateConfig(_Section):
    """Checkpoints: where, how often, how many, and what to resume from."""

    dir: Path | None = Field(
        default=None,
        description="the state directory (relative: to the working directory)",
    )
    save_interval: PositiveSeconds | None = Field(
        default=None, description="seconds between periodic checkpoints; null: none"
    )
    save_on_shutdown: bool = True
    keep_last: PositiveInt | None = None
    keep_every: PositiveInt | None = None
    resume: str | None = Field(
        default="latest",
        description="'latest', a checkpoint name or a path; null: start afresh",
    )
    strict: bool = True

    @model_validator(mode="after")
    def _needs_dir(self) -> StateConfig:
        if self.dir is None and self.save_interval is not None:
            raise ValueError(
                f"save_interval needs state.dir (got save_interval="
                f"{self.save_interval!r} and no dir)"
            )
        if self.keep_every is not None and self.keep_last is None:
            raise ValueError(
                f"keep_every needs keep_last (got keep_every={self.keep_every!r})"
            )
        return self


class ApiConfig(_Section):
    """The HTTP control API (served by the daemon when enabled)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8470, ge=0, le=65535, description="0: any free port")
    token: SecretStr | None = Field(
        default=None, description="the bearer token; prefer token_env or token_file"
    )
    token_env: str | None = Field(
        default=None, description="the environment variable that holds the token"
    )
    token_file: Path | None = Field(
        default=None, description="a file that holds the token"
    )
    max_body_bytes: PositiveInt = Field(
        default=8 * 1024 * 1024,
        description="the largest request body; larger ones get 413 before parsing",
    )
    cors_origins: list[str] | None = Field(
        default=None, description="origins allowed by CORS; null: no CORS headers"
    )

    @model_validator(mode="after")
    def _one_token_source(self) -> ApiConfig:
        given = [
            n
            for n in ("token", "token_env", "token_file")
            if getattr(self, n) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of token, token_env, token_file (got {given})"
            )
        if self.enabled and not given:
            from ..api.server import is_loopback

            if not is_loopback(self.host):
                raise ValueError(
                    "a non-loopback host needs a token (token, token_env or "
                    f"token_file), or bind 127.0.0.1 (got host={self.host!r})"
                )
        return self

    def resolve_token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The bearer token from wherever it is given, or None if none is.

        :param environ: the environment for ``token_env`` (``os.environ`` by default).
        :raises ConfigError: when the variable is unset or empty, or the file
            cannot be read or is empty.
        """
        from .errors import ConfigError

        if self.token is not None:
            value = self.token.get_secret_value()
            if not value.strip():
                raise ConfigError([f"api.token: the token is empty (got {value!r})"])
            return value
        if self.token_env is not None:
            env = os.environ if environ is None else environ
            value = env.get(self.token_env, "")
            if not value.strip():
                raise ConfigError(
                    [
                        (
                            f"api.token_env: the environment variable is not set or "
                            f"empty (got {self.token_env!r})"
                        )
                    ]
                )
            return value
        if self.token_file is not None:
            try:
                value = self.token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    [
                        f"api.token_file: cannot read it: {exc} (got {str(self.token_file)!r})"
                    ]
                ) from None
            if not value:
                raise ConfigError(
                    [
                        f"api.token_file: the file is empty (got {str(self.token_file)!r})"
                    ]
                )
            return value
        return None


class LoggingConfig(_Section):
    """Log level and format."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["text", "json"] = Field(
        default="text", description="'json': one JSON object a line, for log collectors"
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class ClockConfig(_Section):
    """pamiq-core's clock (:mod:`aiotrainer.time`), as its ``LaunchConfig`` sets it."""

    time_scale: PositiveSeconds = Field(
        default=1.0,
        description="how fast the clock runs against real time: 10.0 makes every "
        "timestamp, interval and deadline read by the clock pass 10 times faster",
    )


class RunConfig(_Section):
    """How a daemon run ends by itself, and what it shows."""

    max_uptime: PositiveSeconds | None = Field(
        default=None, description="stop gracefully after this many seconds"
    )
    max_runs: PositiveInt | None = Field(
        default=None, description="stop gracefully after this many runs (all trainers)"
    )
    progress: Literal["auto", "rich", "plain", "off"] = Field(
        default="auto", description="'auto': rich on a terminal, a plain line otherwise"
    )
    progress_interval: PositiveSeconds = Field(
        default=1.0, description="seconds between plain progress lines"
    )
    switch_interval: PositiveSeconds | None = Field(
        default=None,
        description="the GIL switch interval in seconds (sys.setswitchinterval) for "
        "the daemon's process; null: Python's default (0.005). See docs/performance.md",
    )


class ServiceConfig(_Section):
    """The whole service, as a config file describes it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="aiotrainer config",
    )

    models: dict[str, ComponentConfig] = Field(default_factory=dict)
    buffers: dict[str, ComponentConfig] = Field(default_factory=dict)
    trainers: dict[str, TrainerConfig] = Field(default_factory=dict)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    clock: ClockConfig = Field(default_factory=ClockConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @field_validator("models", "buffers", "trainers", "sources")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_names("component", value)

    def reference_problems(self) -> list[str]:
        """Every reference to an undeclared model or buffer, one line each."""
        problems: list[str] = []

        def check(path: str, name: str, kind: str, known: dict[str, Any]) -> None:
            if name not in known:
                choices = ", ".join(repr(n) for n in sorted(known)) or "none declared"
                problems.append(
                    f"{path}: no {kind} named {name!r}; expected one of: {choices} "
                    f"(got {name!r})"
                )

        for tname, trainer in self.trainers.items():
            for i, name in enumerate(trainer.models):
                check(f"trainers.{tname}.models.{i}", name, "model", self.models)
            for i, name in enumerate(trainer.buffers):
                check(f"trainers.{tname}.buffers.{i}", name, "buffer", self.buffers)
        for sname, source in self.sources.items():
            check(f"sources.{sname}.buffer", source.buffer, "buffer", self.buffers)
        return problems

    def service_kwargs(self) -> dict[str, Any]:
        """The :class:`~aiotrainer.TrainerService` arguments that are not components."""
        from ..scheduler.policy import ErrorPolicy

        policies = {
            name: ErrorPolicy(**trainer.on_error.model_dump())
            for name, trainer in self.trainers.items()
        }
        st = self.state
        return {
            "max_workers": self.workers.max_workers,
            "shutdown_timeout": self.workers.shutdown_timeout,
            "recheck_interval": self.workers.recheck_interval,
            "linger": self.workers.linger,
            "on_error": policies,
            "state_dir": st.dir,
            "save_interval": st.save_interval,
            "save_on_shutdown": st.save_on_shutdown,
            "keep_last": st.keep_last,
            "keep_every": st.keep_every,
            "resume_from": st.resume if st.dir is not None else None,
            "strict": st.strict,
        }

    def build_service(self) -> TrainerService:
        """Build the components and the :class:`~aiotrainer.TrainerService`.

        The same service the daemon runs, for embedding: ``async with
        load_config(path).build_service() as service: ...``.

        :raises ConfigError: listing every component that could not be built.
        """
        from .building import build_service

        return build_service(self)

    def build_sources(self) -> dict[str, Source]:
        """Build the sources (async callables awaiting their collector).

        :raises ConfigError: listing every source that could not be built.
        """
        from .building import build_sources

        return build_sources(self)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editors (``aiotrainer schema``).

    :class:`ServiceConfig`'s own, plus the ``$schema`` key a file may use to
    point an editor at it (the loader ignores that key).
    """
    schema = ServiceConfig.model_json_schema()
    schema["properties"] = {
        "$schema": {
            "type": "string",
            "description": "where this schema is, for editors; ignored by aiotrainer",
        },
        **schema["properties"],
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
