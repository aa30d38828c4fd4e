"""The embedded defaults `make serve` starts with when no config file is given.

Without provider keys in the environment it uses three simulated models (small/medium/large, with
realistic prices) served in-process; with ``OPENAI_API_KEY`` and/or ``ANTHROPIC_API_KEY`` it uses real
models of those providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchman.config.model import Config

#: Semantic routes of ``switchman/auto`` (thresholds tuned for the default ``wordllama`` embedder).
_AUTO_ROUTES: list[dict[str, Any]] = [
    {
        "name": "quick-check",
        "threshold": 0.5,
        "then": {"tier": "bottom"},
        "examples": [
            "is this valid syntax?",
            "is this valid Python?",
            "what does this one-liner do?",
            "is this JSON valid?",
            "fix the typo in this sentence",
            "translate this sentence to French",
            "rephrase this sentence to sound more polite",
            "give me a synonym for happy",
            "what is the capital of Australia?",
            "what year did the Berlin wall fall?",
            "convert 5 miles to kilometres",
            "how do I reverse a string in Python?",
            "what is the difference between a list and a tuple?",
            "summarize this paragraph in one sentence",
        ],
    },
    {
        "name": "deep-reasoning",
        "threshold": 0.5,
        "then": {"tier": "top"},
        "examples": [
            "propose a phased migration strategy from our monolith to microservices",
            "we need a decomposition strategy for a legacy system with dozens of tables and shared state",
            "design the architecture of a distributed system with strong consistency requirements",
            "analyze the trade-offs between these three database designs for our workload",
            "write a detailed technical plan to scale our platform to ten times the traffic",
            "prove that this algorithm is correct and analyze its complexity",
            "review our security architecture and propose a threat model with mitigations",
            "evaluate several approaches to this research problem and recommend one with justification",
        ],
    },
]

#: Overrides of ``switchman/auto``: declared tier and latency class.
_AUTO_RULES: list[dict[str, Any]] = [
    {"name": "premium", "when": {"tier": ["premium"]}, "then": {"tier": "top"}},
    {"name": "batch", "when": {"latency": ["batch"]}, "then": {"policy": "cheapest"}},
    {"name": "interactive", "when": {"latency": ["interactive"]}, "then": {"latency": ["low", "medium"]}},
]

_ROUTERS: dict[str, Any] = {
    "switchman/auto": {
        "policy": "threshold",
        "target": 0.7,
        "description": "rules, semantic routes, then the cheapest model predicted to reach quality 0.7",
        "rules": _AUTO_RULES,
        "routes": _AUTO_ROUTES,
    },
    "switchman/cheap-first": {"policy": "cheapest", "description": "cheapest first, stronger as fallbacks"},
    "switchman/quality": {"policy": "quality", "description": "strongest tier first"},
}

_SIM_MODELS: dict[str, Any] = {
    "sim-small": {
        "provider": "sim",
        "input_price": 0.15,
        "output_price": 0.60,
        "context_window": 128000,
        "tier": "small",
        "latency": "low",
        "capabilities": {"vision": False, "tools": True, "json": True},
        "sim": {"ttft_ms": 150, "tokens_per_s": 400},
    },
    "sim-medium": {
        "provider": "sim",
        "input_price": 0.80,
        "output_price": 4.00,
        "context_window": 200000,
        "tier": "medium",
        "latency": "medium",
        "capabilities": {"vision": True, "tools": True, "json": True},
        "sim": {"ttft_ms": 300, "tokens_per_s": 200},
    },
    "sim-large": {
        "provider": "sim",
        "input_price": 3.00,
        "output_price": 15.00,
        "context_window": 200000,
        "tier": "large",
        "latency": "high",
        "capabilities": {"vision": True, "tools": True, "json": True},
        "sim": {"ttft_ms": 600, "tokens_per_s": 80},
    },
}

_OPENAI_MODELS: dict[str, Any] = {
    "gpt-4o-mini": {
        "provider": "openai",
        "input_price": 0.15,
        "output_price": 0.60,
        "context_window": 128000,
        "tier": "small",
        "latency": "low",
        "capabilities": {"vision": True, "tools": True, "json": True},
    },
    "gpt-4.1-mini": {
        "provider": "openai",
        "input_price": 0.40,
        "output_price": 1.60,
        "context_window": 1047576,
        "tier": "medium",
        "latency": "low",
        "capabilities": {"vision": True, "tools": True, "json": True},
    },
    "gpt-4.1": {
        "provider": "openai",
        "input_price": 2.00,
        "output_price": 8.00,
        "context_window": 1047576,
        "tier": "large",
        "latency": "medium",
        "capabilities": {"vision": True, "tools": True, "json": True},
    },
}

_ANTHROPIC_MODELS: dict[str, Any] = {
    "claude-3-5-haiku-latest": {
        "provider": "anthropic",
        "input_price": 0.80,
        "output_price": 4.00,
        "context_window": 200000,
        "max_output_tokens": 8192,
        "tier": "medium",
        "latency": "low",
        "capabilities": {"vision": True, "tools": True, "json": False},
    },
    "claude-sonnet-4-0": {
        "provider": "anthropic",
        "input_price": 3.00,
        "output_price": 15.00,
        "context_window": 200000,
        "max_output_tokens": 64000,
        "tier": "large",
        "latency": "medium",
        "capabilities": {"vision": True, "tools": True, "json": False},
    },
}


def starter_config(env: Mapping[str, str]) -> Config:
    """Build the default config from the environment (see module doc)."""
    providers: dict[str, Any] = {}
    models: dict[str, Any] = {}
    if env.get("OPENAI_API_KEY"):
        providers["openai"] = {
            "type": "openai",
            "base_url": env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            "api_key": env["OPENAI_API_KEY"],
        }
        models.update(_OPENAI_MODELS)
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = {
            "type": "anthropic",
            "base_url": env.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            "api_key": env["ANTHROPIC_API_KEY"],
        }
        models.update(_ANTHROPIC_MODELS)
    simulated = not models
    if simulated:
        providers["sim"] = {"type": "sim"}
        models.update(_SIM_MODELS)
    return Config.model_validate(
        {"providers": providers, "models": models, "routers": _ROUTERS, "simulated": simulated}
    )
