"""Configuration: one typed structure loaded from ``config.yaml``, secrets from the environment."""

from ivr.config.convert import Problem
from ivr.config.errors import ConfigError
from ivr.config.load import load_config
from ivr.config.schema import (
    CallbackRule,
    Config,
    OperatorConfig,
    QueueConfig,
    RoutingSettings,
    UserConfig,
)
from ivr.config.secrets import Secrets

__all__ = [
    "CallbackRule",
    "Config",
    "ConfigError",
    "OperatorConfig",
    "Problem",
    "QueueConfig",
    "RoutingSettings",
    "Secrets",
    "UserConfig",
    "load_config",
]
