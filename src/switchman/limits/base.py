"""The values of limit checking and the :class:`LimitBackend` protocol both backends implement.

A backend only knows integer counters in time buckets: ``acquire`` checks a set of counters and, when
every one of them has room, charges them all (atomically, all or nothing); ``adjust`` adds signed amounts
without checking (reconciliation); ``read`` returns current values. What the counters mean (requests,
tokens, nano-USD; per key or per model) is decided by :mod:`switchman.limits.plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Check:
    """One counter to check and charge: ``name`` in time bucket ``bucket``."""

    name: str
    bucket: int
    amount: int
    #: The most the counter may hold after charging (0 = count only, never refuse).
    limit: int
    #: Weight of the previous bucket (sliding windows); 0 = a fixed window.
    prev_weight: float
    #: Lifetime of the bucket's counter, milliseconds.
    ttl_ms: int

    @property
    def key(self) -> str:
        return f"{self.name}:{self.bucket}"

    @property
    def prev_key(self) -> str:
        return f"{self.name}:{self.bucket - 1}"


@dataclass(frozen=True, slots=True)
class Delta:
    """A signed change of one counter bucket, without a check (reconciliation, refunds)."""

    name: str
    bucket: int
    amount: int
    ttl_ms: int

    @property
    def key(self) -> str:
        return f"{self.name}:{self.bucket}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of ``acquire``: charged or not, and the counters as seen before charging."""

    ok: bool
    #: Index of the first check that had no room (-1 when ``ok``).
    denied: int
    #: ``(current, previous)`` bucket values of every check, before charging.
    used: tuple[tuple[int, int], ...]
    #: False when the counters were local ones (a shared backend's outage fallback).
    shared: bool = True


def decide(checks: Sequence[Check], used: Sequence[tuple[int, int]]) -> int:
    """Index of the first check without room for its amount, or -1 (the rule both backends apply)."""
    for i, (c, (cur, prev)) in enumerate(zip(checks, used, strict=True)):
        if c.limit > 0 and cur + prev * c.prev_weight + c.amount > c.limit:
            return i
    return -1


class LimitBackend(Protocol):
    """Counters shared by every request this backend serves (one process, or every Redis client)."""

    name: str

    async def start(self) -> None: ...

    async def acquire(self, checks: Sequence[Check]) -> Verdict: ...

    def adjust(self, deltas: Sequence[Delta], *, shared: bool = True) -> None:
        """Apply signed changes; never blocks the caller (a remote backend sends them in the background).

        ``shared=False``: the charges being corrected were made locally (during an outage)."""
        ...

    async def read(self, checks: Sequence[Check]) -> list[tuple[int, int]]: ...

    def status(self) -> dict[str, Any]:
        """What /readyz shows: the backend, and whether it is degraded to local limits."""
        ...

    async def aclose(self) -> None: ...
