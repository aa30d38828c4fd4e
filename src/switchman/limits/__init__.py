"""Rate limits, token quotas and USD budgets, counted in-process or in Redis (shared by replicas)."""

from __future__ import annotations

from switchman.config.limits import StateConfig
from switchman.limits.base import Check, Delta, LimitBackend, Verdict
from switchman.limits.limiter import Admission, Ask, Limiter, Reservation
from switchman.limits.memory import MemoryBackend

__all__ = [
    "Admission",
    "Ask",
    "Check",
    "Delta",
    "LimitBackend",
    "Limiter",
    "MemoryBackend",
    "Reservation",
    "Verdict",
    "build_backend",
]


def build_backend(state: StateConfig) -> LimitBackend:
    """The backend ``state.backend`` names (not started yet)."""
    if state.backend == "redis":
        from switchman.limits.redis import RedisBackend

        return RedisBackend(
            state.url.get_secret_value(),
            prefix=state.prefix,
            timeout_s=state.timeout_s,
            reconnect_s=state.reconnect_s,
        )
    return MemoryBackend()
