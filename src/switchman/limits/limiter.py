"""The limiter: admits a request against key and model limits, and reconciles it when it is done.

``admit`` walks the routing chain: candidates near a model's quota go behind the others; a candidate at
its limit is skipped (``reroute``), waited for in a bounded queue (``queue``), or the request is refused
with 429 and ``Retry-After`` (``reject``), as the route's ``on_limit`` says. Key budgets and key rates
are never rerouted (another model would not help). The expected cost of the admitted candidate is
pre-charged; ``reconcile`` corrects every counter with the real tokens and cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from switchman.config.limits import KeyLimits, LimitsConfig, OnLimit
from switchman.errors import RateLimited
from switchman.limits.base import Delta, LimitBackend
from switchman.limits.plan import Spec, key_specs, model_specs, nano_usd
from switchman.limits.windows import retry_after

log = logging.getLogger("switchman.limits")

#: How often a queued request re-checks a token or budget limit (reconciliation may free room early).
POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class Ask:
    """One request as the limiter sees it."""

    key_id: str | None
    key_limits: KeyLimits
    route: str  # the requested router or model name
    tokens: int  # expected tokens (prompt + expected output)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What ``admit`` charged, to be corrected by ``reconcile``."""

    model: str
    tokens: int
    cost_nusd: int
    specs: tuple[Spec, ...]
    shared: bool


@dataclass(frozen=True, slots=True)
class Admission:
    reservation: Reservation | None
    #: Index into the (possibly reordered) candidates of the admitted one.
    order: tuple[int, ...]
    #: Candidates skipped because they were at a limit: (model, reason).
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass
class Limiter:
    backend: LimitBackend
    #: Share of its tightest limit each model has used (as last seen); drives the headroom signal.
    _used: dict[str, float] = field(default_factory=dict)
    waiting: int = 0
    _refresh: asyncio.Task[None] | None = None

    # --- headroom ---------------------------------------------------------------------------------

    def headroom(self, model: str) -> float:
        """Share of the model's tightest limit still free (1.0 = unlimited or unused)."""
        return max(1.0 - self._used.get(model, 0.0), 0.0)

    def _observe(self, specs: Sequence[Spec], used: Sequence[tuple[int, int]], charged: bool) -> None:
        fracs: dict[str, float] = {}
        for s, (cur, prev) in zip(specs, used, strict=True):
            if s.scope != "model" or s.check.limit <= 0:
                continue
            total = cur + prev * s.check.prev_weight + (s.check.amount if charged else 0)
            fracs[s.owner] = max(fracs.get(s.owner, 0.0), total / s.check.limit)
        self._used.update(fracs)

    def start_refresh(self, config: Any, interval_s: float = 1.0) -> None:
        """Read every limited model's counters every ``interval_s`` (other replicas charge them too).

        ``config`` is a callable returning the current :class:`LimitsConfig` (it changes on reload)."""
        if self._refresh is None:
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_loop(config, interval_s))

    async def _refresh_loop(self, config: Any, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            cfg: LimitsConfig = config()
            now = time.time()
            specs = [
                s
                for name, ml in cfg.models.items()
                for s in model_specs(name, ml, tokens=0, requests=0, now=now, sliding=cfg.window == "sliding")
            ]
            if not specs:
                continue
            try:
                used = await self.backend.read([s.check for s in specs])
            except Exception:  # a backend outage is handled (and logged) by the backend
                continue
            self._used.clear()
            self._observe(specs, used, charged=False)

    async def aclose(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    # --- admission --------------------------------------------------------------------------------

    def _specs(self, cfg: LimitsConfig, ask: Ask, model: str, cost_usd: float, now: float) -> list[Spec]:
        sliding = cfg.window == "sliding"
        specs = []
        if ask.key_id is not None or any(getattr(ask.key_limits, f) for f in KeyLimits.model_fields):
            kid = ask.key_id or "-"
            specs = key_specs(
                kid, ask.key_limits, tokens=ask.tokens, cost_usd=cost_usd, now=now, sliding=sliding
            )
        specs += model_specs(model, cfg.models.get(model), tokens=ask.tokens, now=now, sliding=sliding)
        return specs

    def prefer(self, cfg: LimitsConfig, models: Sequence[str]) -> tuple[int, ...]:
        """Candidate order with the ones near their quota moved behind the others (stable)."""
        near = [self._used.get(m, 0.0) >= cfg.near_quota for m in models]
        if not any(near):
            return tuple(range(len(models)))
        return tuple(
            [i for i in range(len(models)) if not near[i]] + [i for i in range(len(models)) if near[i]]
        )

    async def admit(self, cfg: LimitsConfig, ask: Ask, candidates: Sequence[tuple[str, float]]) -> Admission:
        """Charge the first candidate (model, expected cost) that has room; raise RateLimited if none."""
        order = self.prefer(cfg, [m for m, _ in candidates])
        route = cfg.routes.get(ask.route)
        mode: OnLimit = (route.on_limit if route else None) or cfg.on_limit
        max_wait = route.max_wait_s if route and route.max_wait_s is not None else cfg.max_wait_s
        skipped: list[tuple[str, str]] = []
        refusal: tuple[Spec, float | None] | None = None
        for pos, i in enumerate(order):
            model, cost = candidates[i]
            specs = self._specs(cfg, ask, model, cost, time.time())
            if not specs:
                return Admission(None, order[pos:], tuple(skipped))
            verdict = await self.backend.acquire([s.check for s in specs])
            self._observe(specs, verdict.used, verdict.ok)
            if verdict.ok:
                return Admission(
                    self._reserve(model, ask, cost, specs, verdict.shared), order[pos:], tuple(skipped)
                )
            spec = specs[verdict.denied]
            cur, prev = verdict.used[verdict.denied]
            ra = retry_after(spec.window, cur, prev, spec.check.amount, spec.check.limit)
            refusal = (spec, ra)
            if spec.scope == "key" and spec.unit == "usd":
                if mode != "reroute":
                    break
                skipped.append((model, f"key:{spec.kind}"))  # a cheaper candidate may still fit
                continue
            if spec.scope == "key" and mode != "queue":
                break  # the key's rate is the same whichever model answers
            if mode == "queue":
                adm = await self._queue(cfg, ask, model, cost, max_wait, ra, spec)
                return Admission(adm, order[pos:], tuple(skipped))
            skipped.append((model, f"limit:{spec.kind}"))
            if mode == "reject":
                break
        assert refusal is not None
        raise _refused(*refusal)

    async def _queue(
        self,
        cfg: LimitsConfig,
        ask: Ask,
        model: str,
        cost: float,
        max_wait: float,
        ra: float | None,
        spec: Spec,
    ) -> Reservation:
        """Wait (bounded: ``queue_size`` waiters, ``max_wait`` seconds) until the candidate has room."""
        deadline = time.monotonic() + max_wait
        if self.waiting >= cfg.queue_size:
            raise _refused(spec, ra, "the wait queue is full")
        self.waiting += 1
        try:
            while True:
                left = deadline - time.monotonic()
                if ra is None or left <= 0 or (ra > left and spec.unit == "requests"):
                    raise _refused(spec, ra)
                # token pre-charges are often refunded early by reconciliation: poll for that too
                await asyncio.sleep(min(max(ra, 0.005), left, POLL_S) + random.uniform(0, 0.01))
                specs = self._specs(cfg, ask, model, cost, time.time())
                verdict = await self.backend.acquire([s.check for s in specs])
                self._observe(specs, verdict.used, verdict.ok)
                if verdict.ok:
                    return self._reserve(model, ask, cost, specs, verdict.shared)
                spec = specs[verdict.denied]
                cur, prev = verdict.used[verdict.denied]
                ra = retry_after(spec.window, cur, prev, spec.check.amount, spec.check.limit)
                if spec.scope == "key" and spec.unit == "usd":
                    raise _refused(spec, ra)
        finally:
            self.waiting -= 1

    @staticmethod
    def _reserve(model: str, ask: Ask, cost: float, specs: list[Spec], shared: bool) -> Reservation:
        return Reservation(model, ask.tokens, nano_usd(cost), tuple(specs), shared)

    # --- reconciliation ---------------------------------------------------------------------------

    def reconcile(
        self, cfg: LimitsConfig, res: Reservation, model: str | None, tokens: int, cost_usd: float
    ) -> None:
        """Correct the pre-charge with what the call really used (``model`` None = no answer)."""
        deltas: list[Delta] = []
        moved = model is not None and model != res.model
        for s in res.specs:
            if s.scope == "key":
                if s.unit == "tokens":
                    deltas.append(s.delta(tokens - res.tokens))
                elif s.unit == "usd":
                    deltas.append(s.delta(nano_usd(cost_usd) - res.cost_nusd))
            elif moved:  # a fallback answered: give the reserved model its charge back
                deltas.append(s.delta(-s.check.amount))
            elif s.unit == "tokens":
                deltas.append(s.delta(tokens - res.tokens))
        self.backend.adjust(deltas, shared=res.shared)
        if moved and model is not None:
            now, sliding = time.time(), cfg.window == "sliding"
            charge = model_specs(model, cfg.models.get(model), tokens=tokens, now=now, sliding=sliding)
            self.backend.adjust([s.delta(s.check.amount) for s in charge])

    def status(self) -> dict[str, Any]:
        out = self.backend.status()
        out["waiting"] = self.waiting
        out["near_quota"] = {m: round(u, 3) for m, u in sorted(self._used.items()) if u > 0}
        return out


def _refused(spec: Spec, ra: float | None, why: str | None = None) -> RateLimited:
    what = {
        "rpm": "requests per minute",
        "tpm": "tokens per minute",
        "daily_tokens": "tokens per day",
        "daily_usd": "daily budget",
        "monthly_usd": "monthly budget",
    }[spec.kind]
    who = "this API key" if spec.scope == "key" else f"model '{spec.owner}'"
    msg = f"rate limit reached: {what} of {who} ({spec.limit_text})"
    if spec.unit == "usd":
        msg = f"budget exhausted: {what} of {who} ({spec.limit_text})"
    if why:
        msg += f"; {why}"
    if ra is None:
        msg += "; the request alone is larger than the limit"
    code = "budget_exceeded" if spec.unit == "usd" else "rate_limit_exceeded"
    return RateLimited(msg, retry_after=ra, code=code)
