"""Configuration: typed settings (``model``) and the loader (``load``)."""

from switchman.config.model import (
    Capabilities,
    Config,
    ModelConfig,
    ProviderConfig,
    RouterConfig,
    ServerConfig,
    SimBehaviour,
)

__all__ = [
    "Capabilities",
    "Config",
    "ModelConfig",
    "ProviderConfig",
    "RouterConfig",
    "ServerConfig",
    "SimBehaviour",
]
