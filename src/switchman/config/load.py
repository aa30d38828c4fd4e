"""Load the YAML config: env references, validation, readable errors.

This is the only module that reads ``os.environ`` (through :func:`load_config`'s ``environ`` argument,
which defaults to it). Only ``cli`` and ``serving`` call it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchman.config.model import Config, SimServerConfig
from switchman.config.starter import starter_config
from switchman.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = ("api_key",)


def environ() -> Mapping[str, str]:
    """The process environment (the one place switchman reads it)."""
    return os.environ


def model_cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """Where routing keeps models it builds (``$SWITCHMAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/switchman``);
    None: routing's default, ``~/.cache/switchman``."""
    env = environ() if env is None else env
    if env.get("SWITCHMAN_CACHE_DIR"):
        return Path(env["SWITCHMAN_CACHE_DIR"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "switchman"
    return None


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate ``path``; ``None`` gives the built-in starter config."""
    env = environ() if env is None else env
    if path is None:
        return starter_config(env)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    return parse_config(text, env, source=str(p))


def parse_config(text: str, env: Mapping[str, str], *, source: str = "<config>") -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    _check_secrets_are_refs(raw, source)
    resolved = _resolve_env(raw, env, source, path="")
    try:
        return Config.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid config:\n{format_validation_error(exc)}") from None


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def _check_secrets_are_refs(raw: dict[str, Any], source: str) -> None:
    providers = raw.get("providers") or {}
    if not isinstance(providers, dict):
        return
    for name, prov in providers.items():
        if not isinstance(prov, dict):
            continue
        for key in _SECRET_KEYS:
            value = prov.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or not _ENV_REF.fullmatch(value.strip()):
                raise ConfigError(
                    f"{source}: providers.{name}.{key}: must be an environment reference such as "
                    "${OPENAI_API_KEY}; secrets are never written in the config file"
                )


def _resolve_env(value: Any, env: Mapping[str, str], source: str, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, env, source, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, env, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{source}: {path}: environment variable {name} is not set")

        return _ENV_REF.sub(sub, value)
    return value


def load_sim_config(path: str | Path | None) -> SimServerConfig:
    """Load a `switchman sim` file (``models: {name: behaviour}``, ``default: behaviour``)."""
    if path is None:
        return SimServerConfig()
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read sim config {p}: {exc}") from None
    try:
        return SimServerConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{p}: invalid sim config:\n{format_validation_error(exc)}") from None
