"""Providers adapt one upstream API each and raise only switchman's own error types."""

from __future__ import annotations

from switchman.config.model import Config
from switchman.providers.base import Provider


def build_providers(config: Config) -> dict[str, Provider]:
    """One provider instance per configured provider (connections open on first use)."""
    from switchman.providers.openai import OpenAIProvider
    from switchman.providers.sim import SimProvider

    out: dict[str, Provider] = {}
    for name, pc in config.providers.items():
        if pc.type == "openai":
            out[name] = OpenAIProvider(name, pc)
        elif pc.type == "anthropic":
            from switchman.providers.anthropic import AnthropicProvider

            limits = {
                m.upstream or mname: m.max_output_tokens
                for mname, m in config.models.items()
                if m.provider == name and m.max_output_tokens is not None
            }
            out[name] = AnthropicProvider(name, pc, max_output_tokens=limits)
        else:
            behaviours = {
                m.upstream or mname: m.sim for mname, m in config.models.items() if m.provider == name
            }
            out[name] = SimProvider(name, behaviours)
    return out


__all__ = ["Provider", "build_providers"]
