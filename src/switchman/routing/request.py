"""What routing knows about one request: :class:`RequestInfo`, built by serving."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Literal

from switchman.values import value
from switchman.wire import ChatRequest

LatencyClass = Literal["interactive", "batch"]


@value
class RequestInfo:
    """A parsed request plus who sent it and what they declared about it."""

    request: ChatRequest
    #: The model name as requested (a router such as ``switchman/auto`` or a concrete model).
    requested_model: str
    #: Router threshold from ``switchman/auto@0.7`` (overrides the router's target), if given.
    threshold: float | None = None
    key_id: str | None = None
    tier: str | None = None
    latency: LatencyClass | None = None
    task: str | None = None
    #: Models this key may use (None = any).
    allowed_models: frozenset[str] | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
