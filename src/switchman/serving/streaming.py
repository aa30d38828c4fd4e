"""Streaming answers (SSE): headers once the first chunk is in, usage captured, failures made visible.

After the first byte reaches the client there is no fallback: an upstream failure ends the stream with an
SSE error event (never ``[DONE]``) and the call is recorded as truncated.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from switchman.dispatch import CallTrace
from switchman.errors import UpstreamError, to_openai_error
from switchman.records import CallRecord
from switchman.routing.decision import Decision
from switchman.serving.keys import H_MODEL, H_REQUEST_ID, H_ROUTE
from switchman.serving.runtime import Runtime
from switchman.wire import SSE_DONE, ChatRequest, Usage, chunk_text, sse_event

#: Status recorded when the client went away before the stream ended (nginx's convention).
CLIENT_CLOSED = 499


def estimate_usage(decision: Decision, completion_chars: int) -> Usage:
    """Usage for upstreams that report none (flagged as estimated): the prompt as routing counted it,
    the answer at ≈ 4 characters a token."""
    prompt = int(decision.features.get("conversation_tokens", decision.features.get("prompt_tokens", 0.0)))
    return Usage(prompt_tokens=prompt, completion_tokens=(completion_chars + 3) // 4)


async def stream_answer(
    request: web.Request,
    runtime: Runtime,
    req: ChatRequest,
    decision: Decision,
    trace: CallTrace,
    deadline: float,
    record: CallRecord,
    t0: float,
) -> web.StreamResponse:
    opened = await runtime.dispatcher.open_stream(req, decision, trace, deadline)
    model = record.model = opened.model
    resp = web.StreamResponse(
        headers={
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            H_MODEL: model,
            H_REQUEST_ID: record.request_id,
            H_ROUTE: record.route or "",
        }
    )
    usage: Usage | None = None
    chars = 0
    #: The streamed text, kept only when bodies are stored for this request (routes sets prompt_body).
    texts: list[str] | None = [] if record.prompt_body is not None else None
    wants_usage = req.client_wants_usage
    #: Events held back while the provider says the next chunk is already here (one write for all).
    pending: list[bytes] = []
    try:
        await resp.prepare(request)
        record.ttft_ms = (time.perf_counter() - t0) * 1000
        chunk = opened.first
        # One timer for the whole stream (a wait_for per chunk costs a task and a timer each).
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
            while True:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.has_choices or wants_usage:
                    chunk.data["model"] = model
                    text = chunk_text(chunk.data)
                    chars += len(text)
                    if texts is not None:
                        texts.append(text)
                    pending.append(sse_event(chunk.data))
                    if not chunk.more_buffered:
                        data = b"".join(pending)
                        pending.clear()  # before the await: a failed write must not be repeated
                        await resp.write(data)
                try:
                    chunk = await anext(opened.rest)
                except StopAsyncIteration:
                    break
        pending.append(SSE_DONE)
        await resp.write(b"".join(pending))
    except (UpstreamError, TimeoutError) as exc:
        if not isinstance(exc, UpstreamError):
            exc = UpstreamError("request deadline passed mid-stream", code="deadline")
        record.truncated = True
        record.status, body = to_openai_error(exc)
        record.error = type(exc).__name__
        pending.append(sse_event(body))
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write(b"".join(pending))
    except (ConnectionResetError, asyncio.CancelledError):
        record.truncated, record.status, record.error = True, CLIENT_CLOSED, "ClientDisconnected"
        raise
    finally:
        aclose = getattr(opened.rest, "aclose", None)
        if aclose is not None:
            # the upstream stream is already broken; nothing to report twice
            with contextlib.suppress(Exception):
                await aclose()
        record.settle(runtime.catalog, usage, estimate_usage(decision, chars))
        if texts is not None:
            record.response_body = "".join(texts)
    return resp
