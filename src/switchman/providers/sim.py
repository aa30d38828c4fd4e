"""The in-process `sim` provider: simulated models answering without a network hop.

Used by the starter config (`make serve` without provider keys). The same engine serves HTTP in
`switchman sim` for tests and load tests, where network faults (resets, malformed bodies) are real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping

from switchman.config.model import SimBehaviour
from switchman.errors import (
    ContextLengthExceeded,
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchman.sim.engine import Fault, SimModel, speed_delay, stream_pieces
from switchman.wire import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Usage,
    chunk_from_json,
    chunk_json,
    completion_json,
    new_completion_id,
    response_from_json,
)


class SimProvider:
    def __init__(self, name: str, behaviours: Mapping[str, SimBehaviour]) -> None:
        self.name = name
        self._models = {n: SimModel(n, b) for n, b in behaviours.items()}

    def _model(self, name: str) -> SimModel:
        m = self._models.get(name)
        if m is None:
            m = self._models[name] = SimModel(name, SimBehaviour())
        return m

    async def _start(self, model: SimModel, body: dict[str, object], timeout: float) -> None:
        fault = model.next_fault()
        if fault is None and model.over_context(body):
            fault = "context_length"
        b = model.behaviour
        if b.ttft_ms:
            if b.ttft_ms / 1000 > timeout:
                await asyncio.sleep(timeout)
                raise UpstreamTimeout(f"{self.name}: upstream timed out", provider=self.name)
            await asyncio.sleep(b.ttft_ms / 1000)
        if fault is not None:
            raise await self._fault(fault, b, timeout)

    async def _fault(self, fault: Fault, b: SimBehaviour, timeout: float) -> UpstreamError:
        p = self.name
        if fault == "rate_limit":
            return UpstreamRateLimited(
                f"{p}: simulated rate limit", provider=p, upstream_status=429, retry_after=b.retry_after_s
            )
        if fault == "hang":
            await asyncio.sleep(timeout)
            return UpstreamTimeout(f"{p}: upstream timed out", provider=p)
        if fault == "reset":
            return UpstreamConnectionError(f"{p}: connection reset", provider=p)
        if fault == "malformed":
            return UpstreamBadResponse(f"{p}: upstream answered malformed JSON", provider=p)
        if fault == "context_length":
            return ContextLengthExceeded(
                f"{p}: maximum context length exceeded",
                provider=p,
                upstream_status=400,
                code="context_length_exceeded",
            )
        return UpstreamServerError(
            f"{p}: simulated upstream failure", provider=p, upstream_status=b.error_status
        )

    async def complete(self, req: ChatRequest, *, model: str, timeout: float) -> ChatResponse:
        m = self._model(model)
        body = req.upstream_body(model, stream=False)
        await self._start(m, body, timeout)
        answer = m.answer(body)
        delay = speed_delay(m.behaviour, answer.completion_tokens)
        if delay:
            await asyncio.sleep(delay)
        data = completion_json(
            completion_id=new_completion_id(),
            model=model,
            content=answer.content,
            usage=Usage(answer.prompt_tokens, answer.completion_tokens),
            finish_reason=answer.finish_reason,
            tool_calls=answer.tool_calls,
        )
        return response_from_json(data)

    async def stream(self, req: ChatRequest, *, model: str, timeout: float) -> AsyncIterator[ChatChunk]:
        m = self._model(model)
        body = req.upstream_body(model, stream=True)
        await self._start(m, body, timeout)
        answer = m.answer(body)
        cid, created = new_completion_id(), int(time.time())
        yield chunk_from_json(
            chunk_json(
                completion_id=cid, model=model, created=created, delta={"role": "assistant", "content": ""}
            )
        )
        if answer.tool_calls:
            deltas: list[dict[str, object]] = [
                {"tool_calls": [{"index": i, **c}]} for i, c in enumerate(answer.tool_calls)
            ]
        else:
            deltas = [{"content": p} for p in stream_pieces(answer.content or "")]
        per_piece = speed_delay(m.behaviour, answer.completion_tokens) / max(len(deltas), 1)
        cut = m.behaviour.stream_cut_after
        for i, delta in enumerate(deltas):
            if cut is not None and i >= cut:
                raise UpstreamConnectionError(f"{self.name}: stream cut by upstream", provider=self.name)
            if per_piece:
                await asyncio.sleep(per_piece)
            yield chunk_from_json(chunk_json(completion_id=cid, model=model, created=created, delta=delta))
        yield chunk_from_json(
            chunk_json(
                completion_id=cid, model=model, created=created, delta={}, finish_reason=answer.finish_reason
            )
        )
        usage = Usage(answer.prompt_tokens, answer.completion_tokens)
        yield chunk_from_json(chunk_json(completion_id=cid, model=model, created=created, usage=usage))

    async def aclose(self) -> None:
        return None
