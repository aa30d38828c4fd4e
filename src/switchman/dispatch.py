"""Dispatch walks a routing Decision: deployments, breakers, retries with backoff, fallbacks, stream start.

For each candidate model in the chain: pre-flight check (can this model serve the request at all?), pick a
deployment (load balancing over those whose breaker lets a request through), call it; retry retryable
failures with exponential backoff and jitter (honouring Retry-After, preferring another deployment), then
fall back to the next candidate. Client errors (4xx) are neither retried nor passed to another model, except
context-length errors, which fall back to a model with a larger window. Every attempt is appended to the
caller's :class:`CallTrace`, so the record of a failed request still says what was tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from switchman.catalog import Catalog, Deployment, ModelEntry
from switchman.config.model import DispatchConfig
from switchman.errors import (
    ContextLengthExceeded,
    NoCandidate,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from switchman.health import HealthBoard
from switchman.providers.base import Provider
from switchman.records import Attempt
from switchman.routing.decision import Decision
from switchman.wire import ChatChunk, ChatRequest, ChatResponse

T = TypeVar("T")


@dataclass(slots=True)
class CallTrace:
    """What dispatch did for one request (attempts in order)."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        return len({a.model for a in self.attempts}) - 1 if self.attempts else 0


@dataclass(slots=True)
class OpenStream:
    """A stream whose first chunk has arrived: from here on there is no fallback."""

    model: str
    first: ChatChunk
    rest: AsyncIterator[ChatChunk]


def preflight(entry: ModelEntry, features: Mapping[str, float], min_context: int | None) -> str | None:
    """Why ``entry`` cannot serve a request with these analysed features (None = it can)."""
    if features.get("needs_vision") and not entry.vision:
        return "no vision"
    if features.get("needs_tools") and not entry.tools:
        return "no tools"
    if features.get("needs_json") and not entry.json_mode:
        return "no JSON mode"
    needed = int(features.get("prompt_tokens", 0) + features.get("max_tokens", 0))
    if needed and needed > entry.context_window:
        return "context window too small"
    if min_context is not None and entry.context_window <= min_context:
        return "context window not larger than the one that overflowed"
    return None


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        settings: DispatchConfig | None = None,
        health: HealthBoard | None = None,
    ) -> None:
        self.catalog = catalog
        self.providers = providers
        self.settings = settings or DispatchConfig()
        self.health = health or HealthBoard(self.settings.breaker)

    # --- public API ---

    async def complete(
        self, req: ChatRequest, decision: Decision, trace: CallTrace, deadline: float
    ) -> tuple[str, ChatResponse]:
        """Run the chain until one model answers; returns ``(model, response)``."""

        async def call(dep: Deployment, timeout: float) -> ChatResponse:
            return await self.providers[dep.provider].complete(req, model=dep.upstream, timeout=timeout)

        return await self._walk(decision, trace, deadline, call)

    async def open_stream(
        self, req: ChatRequest, decision: Decision, trace: CallTrace, deadline: float
    ) -> OpenStream:
        """Start a stream, falling back until a model yields its first chunk."""

        async def call(dep: Deployment, timeout: float) -> tuple[ChatChunk, AsyncIterator[ChatChunk]]:
            agen = self.providers[dep.provider].stream(req, model=dep.upstream, timeout=timeout).__aiter__()
            try:
                async with asyncio.timeout(timeout):  # a timer on this task (wait_for would add a task)
                    first = await agen.__anext__()
            except StopAsyncIteration:
                raise UpstreamError(f"{dep.provider}: empty stream", provider=dep.provider) from None
            except TimeoutError:
                await _aclose(agen)
                raise UpstreamTimeout(
                    f"{dep.provider}: no first byte in time", provider=dep.provider
                ) from None
            except BaseException:
                await _aclose(agen)
                raise
            return first, agen

        model, (first, rest) = await self._walk(decision, trace, deadline, call)
        return OpenStream(model, first, rest)

    # --- the walk ---

    def _backoff(self, retry: int, err: UpstreamError) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based), or None to give up on this model."""
        s = self.settings
        delay: float = min(s.backoff_max_s, s.backoff_base_s * 2 ** (retry - 1)) * random.uniform(0.5, 1.0)
        if err.retry_after is not None:
            if err.retry_after > s.max_retry_after_s:
                return None
            delay = max(delay, float(err.retry_after))
        return delay

    def _pick(self, entry: ModelEntry, avoid: str | None) -> Deployment | None:
        """A deployment whose breaker lets a request through now, by the load-balancing strategy."""
        now = time.monotonic()
        deps = [d for d in entry.deployments if self.health.get(d.id).breaker.allows(now)]
        if len(deps) > 1 and avoid is not None:
            deps = [d for d in deps if d.id != avoid] or deps
        if not deps:
            return None
        strategy = self.settings.load_balancing
        if len(deps) == 1:
            chosen = deps[0]
        elif strategy == "least_busy":
            chosen = min(deps, key=lambda d: (self.health.get(d.id).in_flight, -d.weight))
        elif strategy == "latency":
            chosen = min(deps, key=lambda d: (self.health.get(d.id).latency_ms or 0.0, -d.weight))
        else:
            chosen = random.choices(deps, weights=[d.weight for d in deps])[0]
        if not self.health.get(chosen.id).breaker.acquire(now):
            return None
        return chosen

    async def _walk(
        self,
        decision: Decision,
        trace: CallTrace,
        deadline: float,
        call: Callable[[Deployment, float], Awaitable[T]],
    ) -> tuple[str, T]:
        if not decision.chain:
            raise NoCandidate("no configured model can serve this request")
        last_error: UpstreamError | None = None
        min_context: int | None = None
        skipped: list[str] = []
        for cand in decision.chain:
            entry = self.catalog[cand.model]
            why_not = preflight(entry, decision.features, min_context)
            if why_not is not None:
                skipped.append(f"{entry.name}: {why_not}")
                continue
            retry, avoid = 0, None
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise last_error or UpstreamTimeout("request deadline passed before any model answered")
                dep = self._pick(entry, avoid)
                if dep is None:
                    trace.attempts.append(Attempt(entry.name, "", False, 0.0, None, "BreakerOpen"))
                    skipped.append(f"{entry.name}: circuit open")
                    break
                health = self.health.get(dep.id)
                timeout = min(self.settings.attempt_timeout_s, remaining)
                start = time.perf_counter()
                health.in_flight += 1
                try:
                    result = await call(dep, timeout)
                except UpstreamError as err:
                    elapsed = (time.perf_counter() - start) * 1000
                    trace.attempts.append(
                        Attempt(
                            entry.name, dep.provider, False, elapsed, err.upstream_status, type(err).__name__
                        )
                    )
                    last_error = err
                    if err.fallback_ok and not isinstance(err, ContextLengthExceeded):
                        health.breaker.failure(time.monotonic())  # the deployment's fault, not the request's
                        health.observe(False, elapsed)
                    else:
                        health.breaker.success()  # it answered; the request was at fault
                    if isinstance(err, ContextLengthExceeded):
                        min_context = entry.context_window
                    if not err.fallback_ok:
                        raise
                    if err.retryable and retry < self.settings.max_retries:
                        retry += 1
                        avoid = dep.id
                        wait = self._backoff(retry, err)
                        if wait is not None and time.monotonic() + wait < deadline:
                            await asyncio.sleep(wait)
                            continue
                    break  # next candidate
                except BaseException:
                    health.breaker.probing = False  # cancelled mid-attempt: free the half-open probe
                    raise
                finally:
                    health.in_flight -= 1
                elapsed = (time.perf_counter() - start) * 1000
                health.breaker.success()
                health.observe(True, elapsed)
                trace.attempts.append(Attempt(entry.name, dep.provider, True, elapsed, 200))
                return entry.name, result
        if last_error is None and any(a.error == "BreakerOpen" for a in trace.attempts):
            raise UpstreamUnavailable(
                "every model that can serve this request is temporarily unavailable (circuit open)",
                retry_after=self.settings.breaker.cooldown_s,
            )
        if last_error is None:
            raise NoCandidate("no model in the chain can serve this request (" + "; ".join(skipped) + ")")
        raise last_error


async def _aclose(agen: AsyncIterator[ChatChunk]) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        # closing a failed upstream stream must not mask the original error
        with contextlib.suppress(Exception):
            await close()
