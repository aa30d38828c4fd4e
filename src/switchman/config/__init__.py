"""Configuration: typed settings (``model``) and the loader (``load``)."""

from switchman.config.model import (
    Capabilities,
    Config,
    ModelConfig,
    ProviderConfig,
    ServerConfig,
    SimBehaviour,
)
from switchman.config.routing import RouterConfig

__all__ = [
    "Capabilities",
    "Config",
    "ModelConfig",
    "ProviderConfig",
    "RouterConfig",
    "ServerConfig",
    "SimBehaviour",
]
