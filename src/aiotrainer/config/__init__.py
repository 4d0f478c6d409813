"""Config files: pydantic models of the whole service, loading, building.

``load_config("configs/demo.yaml").build_service()`` builds the same
:class:`~aiotrainer.TrainerService` that ``aiotrainer run`` runs.
"""

from .building import Source, resolve_target
from .errors import ConfigError
from .loading import ENV_PREFIX, load_config, parse_overrides, read_file
from .models import (
    ApiConfig,
    ComponentConfig,
    ErrorPolicyConfig,
    LoggingConfig,
    RunConfig,
    ServiceConfig,
    SourceConfig,
    StateConfig,
    TrainerConfig,
    WorkersConfig,
    config_json_schema,
)

__all__ = [
    "ENV_PREFIX",
    "ApiConfig",
    "ComponentConfig",
    "ConfigError",
    "ErrorPolicyConfig",
    "LoggingConfig",
    "RunConfig",
    "ServiceConfig",
    "Source",
    "SourceConfig",
    "StateConfig",
    "TrainerConfig",
    "WorkersConfig",
    "config_json_schema",
    "load_config",
    "parse_overrides",
    "read_file",
    "resolve_target",
]
