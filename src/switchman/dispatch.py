"""Dispatch walks a routing Decision: attempts, retries with backoff, fallbacks, stream start.

Every attempt is appended to the caller's :class:`CallTrace`, whether the call succeeds or not, so the
record of a failed request still says what was tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from switchman.catalog import Catalog, ModelEntry
from switchman.errors import (
    ContextLengthExceeded,
    NoCandidate,
    UpstreamError,
    UpstreamTimeout,
)
from switchman.providers.base import Provider
from switchman.records import Attempt
from switchman.routing.decision import Candidate, Decision
from switchman.wire import ChatChunk, ChatRequest, ChatResponse

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetrySettings:
    #: Extra attempts at the same model for retryable failures.
    max_retries: int = 2
    backoff_base_s: float = 0.1
    backoff_max_s: float = 4.0
    #: A Retry-After longer than this skips to the next candidate instead of waiting.
    max_retry_after_s: float = 10.0
    #: Timeout of one attempt (the request deadline may cut it shorter).
    attempt_timeout_s: float = 120.0


@dataclass(slots=True)
class CallTrace:
    """What dispatch did for one request (attempts in order)."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        models = [a.model for a in self.attempts]
        return len({m for m in models}) - 1 if models else 0


@dataclass(slots=True)
class OpenStream:
    """A stream whose first chunk has arrived: from here on there is no fallback."""

    model: str
    first: ChatChunk
    rest: AsyncIterator[ChatChunk]


def _can_serve(entry: ModelEntry, req: ChatRequest, failed_context: int | None) -> bool:
    """Pre-flight check for a fallback: after a context-length failure only larger windows qualify."""
    return failed_context is None or entry.context_window > failed_context


class Dispatcher:
    def __init__(
        self, catalog: Catalog, providers: Mapping[str, Provider], settings: RetrySettings | None = None
    ) -> None:
        self.catalog = catalog
        self.providers = providers
        self.settings = settings or RetrySettings()

    def _backoff(self, retry: int, err: UpstreamError) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based), or None to give up on this model."""
        s = self.settings
        delay: float = min(s.backoff_max_s, s.backoff_base_s * 2 ** (retry - 1)) * random.uniform(0.5, 1.0)
        if err.retry_after is not None:
            if err.retry_after > s.max_retry_after_s:
                return None
            delay = max(delay, float(err.retry_after))
        return delay

    def _candidates(self, decision: Decision) -> list[Candidate]:
        if not decision.chain:
            raise NoCandidate("no configured model can serve this request")
        return list(decision.chain)

    async def complete(
        self, req: ChatRequest, decision: Decision, trace: CallTrace, deadline: float
    ) -> tuple[str, ChatResponse]:
        """Run the chain until one model answers; returns ``(model, response)``."""

        async def call(entry: ModelEntry, timeout: float) -> ChatResponse:
            provider = self.providers[entry.provider]
            return await provider.complete(req, model=entry.upstream, timeout=timeout)

        return await self._walk(req, decision, trace, deadline, call)

    async def open_stream(
        self, req: ChatRequest, decision: Decision, trace: CallTrace, deadline: float
    ) -> OpenStream:
        """Start a stream, falling back until a model yields its first chunk."""

        async def call(entry: ModelEntry, timeout: float) -> OpenStream:
            provider = self.providers[entry.provider]
            agen = provider.stream(req, model=entry.upstream, timeout=timeout).__aiter__()
            try:
                first = await asyncio.wait_for(agen.__anext__(), timeout)
            except StopAsyncIteration:
                raise UpstreamError(f"{entry.provider}: empty stream", provider=entry.provider) from None
            except TimeoutError:
                await _aclose(agen)
                raise UpstreamTimeout(
                    f"{entry.provider}: no first byte in time", provider=entry.provider
                ) from None
            except BaseException:
                await _aclose(agen)
                raise
            return OpenStream(entry.name, first, agen)

        return (await self._walk(req, decision, trace, deadline, call))[1]

    async def _walk(
        self,
        req: ChatRequest,
        decision: Decision,
        trace: CallTrace,
        deadline: float,
        call: Callable[[ModelEntry, float], Awaitable[T]],
    ) -> tuple[str, T]:
        last_error: UpstreamError | None = None
        failed_context: int | None = None
        for cand in self._candidates(decision):
            entry = self.catalog[cand.model]
            if not _can_serve(entry, req, failed_context):
                continue
            retry = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise last_error or UpstreamTimeout("request deadline passed before any model answered")
                timeout = min(self.settings.attempt_timeout_s, remaining)
                start = time.perf_counter()
                try:
                    result = await call(entry, timeout)
                except UpstreamError as err:
                    trace.attempts.append(
                        Attempt(
                            entry.name,
                            entry.provider,
                            False,
                            (time.perf_counter() - start) * 1000,
                            err.upstream_status,
                            type(err).__name__,
                        )
                    )
                    last_error = err
                    if isinstance(err, ContextLengthExceeded):
                        failed_context = entry.context_window
                    if not err.fallback_ok:
                        raise
                    if err.retryable and retry < self.settings.max_retries:
                        retry += 1
                        wait = self._backoff(retry, err)
                        if wait is not None and time.monotonic() + wait < deadline:
                            await asyncio.sleep(wait)
                            continue
                    break  # next candidate
                trace.attempts.append(
                    Attempt(entry.name, entry.provider, True, (time.perf_counter() - start) * 1000, 200)
                )
                return entry.name, result
        if last_error is None:
            raise NoCandidate("no model in the chain can serve this request (context window too small)")
        raise last_error


async def _aclose(agen: AsyncIterator[ChatChunk]) -> None:
    close = getattr(agen, "aclose", None)
    if close is not None:
        # closing a failed upstream stream must not mask the original error
        with contextlib.suppress(Exception):
            await close()
