"""A :class:`~switchman.catalog.Stats` view that adds the limiter's headroom to another Stats."""

from __future__ import annotations

from switchman.catalog import Stats
from switchman.limits.limiter import Limiter


class HeadroomStats:
    """Delegates to ``inner`` (dispatch's health) and adds ``headroom(model)``: the share of the model's
    tightest limit still free (1.0 = no limit or unused). ``available`` stays the inner one's: a model at
    its limit is handled by the route's ``on_limit`` (queue, reroute or 429), not dropped by routing."""

    def __init__(self, inner: Stats, limiter: Limiter) -> None:
        self.inner = inner
        self.limiter = limiter

    def available(self, model: str) -> bool:
        return self.inner.available(model)

    def latency_ms(self, model: str) -> float | None:
        return self.inner.latency_ms(model)

    def error_rate(self, model: str) -> float:
        return self.inner.error_rate(model)

    def headroom(self, model: str) -> float:
        return self.limiter.headroom(model)
