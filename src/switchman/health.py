"""Live health of every deployment: circuit breakers, latency/error EWMAs, requests in flight.

One :class:`HealthBoard` lives for the whole process (it survives config reloads) and implements the
routing :class:`~switchman.catalog.Stats` protocol, so open breakers remove models from routing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from switchman.config.model import BreakerConfig

BreakerState = Literal["closed", "open", "half_open"]

_ALPHA = 0.2  # EWMA weight of the newest observation


@dataclass(slots=True)
class Breaker:
    """Closed → open after N failures in a window → (cooldown) → half-open: one probe → closed or open."""

    config: BreakerConfig
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    probing: bool = False
    #: Another replica reported this deployment's breaker open until then (monotonic clock).
    shared_until: float = 0.0
    #: Set when this breaker opened and the replicas have not been told yet.
    unshared: bool = False

    def state(self, now: float) -> BreakerState:
        if now < self.shared_until:
            return "open"
        if self.opened_at is None:
            return "closed"
        if now - self.opened_at >= self.config.cooldown_s:
            return "half_open"
        return "open"

    def allows(self, now: float) -> bool:
        """Whether a request could be sent now (without taking the half-open probe)."""
        st = self.state(now)
        return st == "closed" or (st == "half_open" and not self.probing)

    def acquire(self, now: float) -> bool:
        """Take permission for one attempt; in half-open state only one probe at a time."""
        st = self.state(now)
        if st == "closed":
            return True
        if st == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.failures.clear()
        self.opened_at = None
        self.probing = False

    def failure(self, now: float) -> None:
        if self.opened_at is not None:  # a failed probe (or a straggler) reopens for another cooldown
            self.opened_at = now
            self.probing = False
            return
        self.failures.append(now)
        horizon = now - self.config.window_s
        while self.failures and self.failures[0] < horizon:
            self.failures.popleft()
        if len(self.failures) >= self.config.failures:
            self.opened_at = now
            self.failures.clear()
            self.unshared = True


@dataclass(slots=True)
class DeploymentHealth:
    breaker: Breaker
    latency_ms: float | None = None
    error_rate: float = 0.0
    in_flight: int = 0

    def observe(self, ok: bool, latency_ms: float) -> None:
        if ok:
            self.latency_ms = (
                latency_ms
                if self.latency_ms is None
                else ((1 - _ALPHA) * self.latency_ms + _ALPHA * latency_ms)
            )
        self.error_rate = (1 - _ALPHA) * self.error_rate + _ALPHA * (0.0 if ok else 1.0)


class HealthBoard:
    """Health per deployment id; per-model views for routing (the ``Stats`` protocol)."""

    def __init__(self, breaker: BreakerConfig | None = None) -> None:
        self.breaker_config = breaker or BreakerConfig()
        self._deployments: dict[str, DeploymentHealth] = {}
        self._by_model: dict[str, list[str]] = {}

    def configure(self, breaker: BreakerConfig, models: dict[str, list[str]]) -> None:
        """Apply a (re)loaded config: keep the state of deployments that still exist."""
        self.breaker_config = breaker
        self._by_model = {m: list(deps) for m, deps in models.items()}
        for dep in self._deployments.values():
            dep.breaker.config = breaker

    def get(self, deployment: str) -> DeploymentHealth:
        h = self._deployments.get(deployment)
        if h is None:
            h = self._deployments[deployment] = DeploymentHealth(Breaker(self.breaker_config))
        return h

    def breaker_states(self, now: float | None = None) -> dict[str, BreakerState]:
        t = time.monotonic() if now is None else now
        return {d: h.breaker.state(t) for d, h in self._deployments.items()}

    # --- sharing breaker state between replicas (see limits/breakers.py) ---

    def deployments(self) -> list[str]:
        return [d for deps in self._by_model.values() for d in deps]

    def newly_opened(self) -> list[str]:
        """Deployments whose breaker opened here since the last call (to tell the other replicas)."""
        out = []
        for dep, h in self._deployments.items():
            if h.breaker.unshared:
                h.breaker.unshared = False
                out.append(dep)
        return out

    def apply_shared(self, deployment: str, seconds_left: float, now: float | None = None) -> None:
        """Another replica says ``deployment``'s breaker is open for ``seconds_left`` more seconds."""
        t = time.monotonic() if now is None else now
        self.get(deployment).breaker.shared_until = t + seconds_left

    # --- the routing Stats protocol ---

    def available(self, model: str) -> bool:
        deps = self._by_model.get(model)
        if not deps:
            return True
        now = time.monotonic()
        known = self._deployments
        for d in deps:  # (a loop, not any(): this runs for every candidate of every routed request)
            h = known.get(d)
            if h is None or h.breaker.allows(now):  # a deployment never seen has a closed breaker
                return True
        return False

    def latency_ms(self, model: str) -> float | None:
        values = [
            h.latency_ms for d in self._by_model.get(model, ()) if (h := self.get(d)).latency_ms is not None
        ]
        return min(values) if values else None

    def error_rate(self, model: str) -> float:
        deps = self._by_model.get(model, ())
        return min((self.get(d).error_rate for d in deps), default=0.0)
