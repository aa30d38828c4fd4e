"""Which counters one request charges: the limit logic of keys (rpm, tpm, daily/monthly USD) and of
models (rpm, tpm, daily tokens), turned into backend :class:`~switchman.limits.base.Check` values.

Units: requests, tokens, and nano-USD (integers, so that Redis counts exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchman.config.limits import KeyLimits, ModelLimits
from switchman.limits.base import Check, Delta
from switchman.limits.windows import Period, Window, window

Scope = Literal["key", "model"]
Unit = Literal["requests", "tokens", "usd"]

NANO = 1_000_000_000


def nano_usd(usd: float) -> int:
    return round(usd * NANO)


@dataclass(frozen=True, slots=True)
class Spec:
    """A check with what it means (for messages, Retry-After and reconciliation)."""

    scope: Scope
    owner: str  # key id or model name
    kind: str  # rpm, tpm, daily_tokens, daily_usd, monthly_usd
    unit: Unit
    check: Check
    window: Window

    def delta(self, amount: int) -> Delta:
        c = self.check
        return Delta(c.name, c.bucket, amount, c.ttl_ms)

    @property
    def limit_text(self) -> str:
        if self.unit == "usd":
            return f"${self.check.limit / NANO:.4f}"
        return f"{self.check.limit} {self.unit}"


_KEY_LIMITS: tuple[tuple[str, Period, Unit], ...] = (
    ("rpm", "minute", "requests"),
    ("tpm", "minute", "tokens"),
    ("daily_usd", "day", "usd"),
    ("monthly_usd", "month", "usd"),
)
_MODEL_LIMITS: tuple[tuple[str, Period, Unit], ...] = (
    ("rpm", "minute", "requests"),
    ("tpm", "minute", "tokens"),
    ("daily_tokens", "day", "tokens"),
)


def _spec(
    scope: Scope,
    owner: str,
    kind: str,
    period: Period,
    unit: Unit,
    limit: float,
    amounts: dict[Unit, int],
    now: float,
    sliding: bool,
) -> Spec:
    w = window(period, now, sliding=sliding)
    lim = nano_usd(limit) if unit == "usd" else int(limit)
    name = f"{scope[0]}:{owner}:{kind}"
    return Spec(
        scope, owner, kind, unit, Check(name, w.bucket, amounts[unit], lim, w.prev_weight, w.ttl_ms), w
    )


def key_specs(
    key_id: str, limits: KeyLimits, *, tokens: int, cost_usd: float, now: float, sliding: bool
) -> list[Spec]:
    amounts: dict[Unit, int] = {"requests": 1, "tokens": tokens, "usd": nano_usd(cost_usd)}
    out = []
    for kind, period, unit in _KEY_LIMITS:
        limit = getattr(limits, kind)
        if limit is not None:
            out.append(_spec("key", key_id, kind, period, unit, limit, amounts, now, sliding))
    return out


def model_specs(
    model: str, limits: ModelLimits | None, *, tokens: int, now: float, sliding: bool, requests: int = 1
) -> list[Spec]:
    if limits is None:
        return []
    amounts: dict[Unit, int] = {"requests": requests, "tokens": tokens, "usd": 0}
    out = []
    for kind, period, unit in _MODEL_LIMITS:
        limit = getattr(limits, kind)
        if limit is not None:
            out.append(_spec("model", model, kind, period, unit, limit, amounts, now, sliding))
    return out


def merge_key_limits(defaults: KeyLimits, own: KeyLimits | None) -> KeyLimits:
    """A key's own limits override the configured defaults, field by field."""
    if own is None:
        return defaults
    return KeyLimits(
        **{
            f: getattr(own, f) if getattr(own, f) is not None else getattr(defaults, f)
            for f in KeyLimits.model_fields
        }
    )
