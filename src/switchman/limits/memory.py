"""In-process limit counters: the default backend (one worker), and the local fallback of Redis's."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from switchman.limits.base import Check, Delta, Verdict, decide

#: Expired counters are swept once per this many writes.
_SWEEP_EVERY = 4096


class MemoryBackend:
    """Counters in a dict (bucket key → value, expiry); every operation is atomic on the event loop."""

    name = "memory"

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._values: dict[str, int] = {}
        self._expires: dict[str, float] = {}
        self._clock = clock
        self._writes = 0

    async def start(self) -> None:
        return None

    def _get(self, key: str, now: float) -> int:
        exp = self._expires.get(key)
        if exp is None:
            return 0
        if exp <= now:
            del self._values[key], self._expires[key]
            return 0
        return self._values[key]

    def _add(self, key: str, amount: int, ttl_ms: int, now: float) -> None:
        self._values[key] = self._get(key, now) + amount
        self._expires[key] = now + ttl_ms / 1000
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        for key in [k for k, exp in self._expires.items() if exp <= now]:
            del self._values[key], self._expires[key]

    def acquire_now(self, checks: Sequence[Check]) -> Verdict:
        """``acquire`` without awaiting (the Redis backend's fallback path uses it too)."""
        now = self._clock()
        used = tuple(
            (self._get(c.key, now), self._get(c.prev_key, now) if c.prev_weight > 0 else 0) for c in checks
        )
        denied = decide(checks, used)
        if denied < 0:
            for c in checks:
                if c.amount:
                    self._add(c.key, c.amount, c.ttl_ms, now)
        return Verdict(denied < 0, denied, used)

    async def acquire(self, checks: Sequence[Check]) -> Verdict:
        return self.acquire_now(checks)

    def adjust(self, deltas: Sequence[Delta], *, shared: bool = True) -> None:
        now = self._clock()
        for d in deltas:
            if d.amount:
                self._add(d.key, d.amount, d.ttl_ms, now)

    def read_now(self, checks: Sequence[Check]) -> list[tuple[int, int]]:
        now = self._clock()
        return [
            (self._get(c.key, now), self._get(c.prev_key, now) if c.prev_weight > 0 else 0) for c in checks
        ]

    async def read(self, checks: Sequence[Check]) -> list[tuple[int, int]]:
        return self.read_now(checks)

    def status(self) -> dict[str, Any]:
        return {"backend": self.name, "shared": False, "counters": len(self._values)}

    async def aclose(self) -> None:
        return None
