"""`switchman sim`: a real OpenAI-compatible HTTP server on loopback with simulated models.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, and for tests ``GET /_sim/stats``
(requests seen per model) and ``PUT /_sim/models/{name}`` (replace a model's behaviour, resetting its
counters).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from switchman.config.model import SimBehaviour, SimServerConfig
from switchman.sim.engine import SimAnswer, SimModel, speed_delay, stream_pieces
from switchman.wire import SSE_DONE, Usage, chunk_json, completion_json, new_completion_id, sse_event


class SimWorld:
    """The simulated models of one server, created on first use for unknown names."""

    def __init__(self, config: SimServerConfig) -> None:
        self.config = config
        self.models: dict[str, SimModel] = {n: SimModel(n, b) for n, b in config.models.items()}

    def get(self, name: str) -> SimModel:
        model = self.models.get(name)
        if model is None:
            model = self.models[name] = SimModel(name, self.config.default)
        return model


_SIM_KEY = web.AppKey("sim_world", SimWorld)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, message: str, etype: str, code: str | None = None) -> web.Response:
    return _json({"error": {"message": message, "type": etype, "param": None, "code": code}}, status)


async def _fault_response(request: web.Request, fault: str, b: SimBehaviour) -> web.StreamResponse:
    if fault == "error":
        return _error(b.error_status, "simulated upstream failure", "server_error")
    if fault == "rate_limit":
        resp = _error(429, "simulated rate limit", "rate_limit_error", "rate_limit_exceeded")
        resp.headers["Retry-After"] = f"{b.retry_after_s:g}"
        return resp
    if fault == "context_length":
        return _error(
            400,
            "This model's maximum context length was exceeded",
            "invalid_request_error",
            "context_length_exceeded",
        )
    if fault == "hang":
        await asyncio.sleep(3600)
        return _error(504, "hung", "timeout_error")
    if fault == "reset":
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError
    # malformed
    return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [', content_type="application/json")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    world = request.app[_SIM_KEY]
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "invalid JSON", "invalid_request_error")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _error(400, "'model' is required", "invalid_request_error")
    model = world.get(body["model"])
    b = model.behaviour
    fault = model.next_fault()
    if fault is None and model.over_context(body):
        fault = "context_length"
    if b.ttft_ms:
        await asyncio.sleep(b.ttft_ms / 1000)
    if fault is not None and not (fault == "malformed" and body.get("stream")):
        return await _fault_response(request, fault, b)
    answer = model.answer(body)
    if body.get("stream"):
        return await _stream(request, model, body, answer, malformed=fault == "malformed")
    delay = speed_delay(b, answer.completion_tokens)
    if delay:
        await asyncio.sleep(delay)
    usage = Usage(answer.prompt_tokens, answer.completion_tokens)
    data = completion_json(
        completion_id=new_completion_id(),
        model=model.name,
        content=answer.content,
        usage=usage,
        finish_reason=answer.finish_reason,
        tool_calls=answer.tool_calls,
    )
    return _json(data)


async def _stream(
    request: web.Request, model: SimModel, body: dict[str, Any], answer: SimAnswer, *, malformed: bool
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
    await resp.prepare(request)
    cid, created, name = new_completion_id(), int(time.time()), model.name
    b = model.behaviour
    await resp.write(
        sse_event(
            chunk_json(
                completion_id=cid, model=name, created=created, delta={"role": "assistant", "content": ""}
            )
        )
    )
    if malformed:
        await resp.write(b'data: {"id": "broken", "choices": [\n\n')
        return resp
    if answer.tool_calls:
        deltas: list[dict[str, Any]] = [
            {"tool_calls": [{"index": i, **c}]} for i, c in enumerate(answer.tool_calls)
        ]
    else:
        deltas = [{"content": p} for p in stream_pieces(answer.content or "")]
    per_piece = speed_delay(b, answer.completion_tokens) / max(len(deltas), 1)
    for i, delta in enumerate(deltas):
        if b.stream_cut_after is not None and i >= b.stream_cut_after:
            if request.transport is not None:
                request.transport.close()
            return resp
        if per_piece:
            await asyncio.sleep(per_piece)
        await resp.write(sse_event(chunk_json(completion_id=cid, model=name, created=created, delta=delta)))
    await resp.write(
        sse_event(
            chunk_json(
                completion_id=cid, model=name, created=created, delta={}, finish_reason=answer.finish_reason
            )
        )
    )
    opts = body.get("stream_options")
    if isinstance(opts, dict) and opts.get("include_usage"):
        usage = Usage(answer.prompt_tokens, answer.completion_tokens)
        await resp.write(sse_event(chunk_json(completion_id=cid, model=name, created=created, usage=usage)))
    await resp.write(SSE_DONE)
    await resp.write_eof()
    return resp


async def list_models(request: web.Request) -> web.Response:
    world = request.app[_SIM_KEY]
    return _json(
        {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "switchman-sim"} for n in world.models
            ],
        }
    )


async def stats(request: web.Request) -> web.Response:
    world = request.app[_SIM_KEY]
    return _json({n: {"requests": m.requests} for n, m in world.models.items()})


async def set_model(request: web.Request) -> web.Response:
    world = request.app[_SIM_KEY]
    name = request.match_info["name"]
    try:
        behaviour = SimBehaviour.model_validate(orjson.loads(await request.read()))
    except Exception as exc:  # validation of a test-control payload; report it, never crash
        return _error(400, f"invalid behaviour: {exc}", "invalid_request_error")
    world.models[name] = SimModel(name, behaviour)
    return _json({"ok": True})


def create_sim_app(config: SimServerConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_SIM_KEY] = SimWorld(config or SimServerConfig())
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_put("/_sim/models/{name}", set_model)
    return app
