"""Plain-value builders for routing tests (requests, catalogs, configs)."""

from __future__ import annotations

from typing import Any

import orjson

from switchman.catalog import Catalog
from switchman.config.model import Config
from switchman.routing.request import RequestInfo
from switchman.wire import parse_chat_request


def request(
    content: Any = "hello",
    *,
    model: str = "switchman/auto",
    messages: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> RequestInfo:
    """A RequestInfo for one user message (or the given messages); extra body fields via ``body``."""
    body: dict[str, Any] = {"model": model, "messages": messages or [{"role": "user", "content": content}]}
    body.update(kw.pop("body", {}))
    raw = orjson.dumps(body)
    return RequestInfo(request=parse_chat_request(raw, max_bytes=len(raw) + 1), requested_model=model, **kw)


MODELS: dict[str, Any] = {
    "small": {
        "provider": "sim",
        "input_price": 0.15,
        "output_price": 0.6,
        "context_window": 16000,
        "tier": "small",
        "latency": "low",
        "capabilities": {"vision": False, "tools": True, "json": True},
    },
    "coder": {
        "provider": "sim",
        "input_price": 0.5,
        "output_price": 2.0,
        "context_window": 64000,
        "tier": "medium",
        "latency": "medium",
        "capabilities": {"vision": False, "tools": True, "json": False},
    },
    "large": {
        "provider": "sim",
        "input_price": 3.0,
        "output_price": 15.0,
        "context_window": 200000,
        "tier": "large",
        "latency": "high",
        "capabilities": {"vision": True, "tools": True, "json": True},
    },
}


def config(routers: dict[str, Any] | None = None, models: dict[str, Any] | None = None) -> Config:
    return Config.model_validate(
        {
            "providers": {"sim": {"type": "sim"}},
            "models": models or MODELS,
            "routers": routers or {"switchman/auto": {"policy": "threshold"}},
        }
    )


def catalog(cfg: Config | None = None) -> Catalog:
    return Catalog.from_config(cfg or config())
