"""A loopback fake of the Anthropic Messages API (``POST /v1/messages``, version 2023-06-01).

It checks every request against the documented request shape (headers, top-level fields, content block
shapes, tool_use/tool_result pairing) and answers 400 ``invalid_request_error`` like the real API when
something is off. Its answers are documented ``Message`` objects and event streams, each validated with
the official ``anthropic`` SDK's types before it is sent, so the fake cannot drift from the real shape.

Behaviour is chosen by the model name, so the same fake serves provider tests and gateway tests:

- ``claude-reject``: 400 invalid_request_error; ``claude-too-long``: 400 "prompt is too long";
- ``claude-busy``: 429 rate_limit_error with ``retry-after: 7``; ``claude-overloaded``: 529;
- ``claude-stream-overloaded``: a stream whose first event after ``message_start`` is an overloaded error;
- ``claude-cut``: a stream that stops after two text deltas (no ``message_stop``);
- ``claude-huge``: a stream with a 700 kB text delta, every event split across 1000-byte writes, CRLF;
- any other name: a "model" that calls the first tool when tools are offered, answers from the tool
  result when one comes back, and otherwise says ``Hello! You said: <last user text>``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import anthropic.types as at
import orjson
from aiohttp import web
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from fakes.anthropic_schema import TOP_LEVEL, Invalid, validate_request

JSON = dict[str, Any]

_EVENT = TypeAdapter(at.RawMessageStreamEvent)


def error_body(etype: str, message: str) -> JSON:
    body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake"}
    ErrorResponse.model_validate(body)
    return body


def error_response(
    status: int, etype: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(etype, message), status=status, headers=headers)


# --- the "model" -----------------------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for b in content:
        if b.get("type") == "text":
            out.append(b["text"])
        elif b.get("type") == "tool_result":
            out.extend(_texts(b.get("content", "")))
    return out


def input_tokens(body: JSON) -> int:
    system = body.get("system") or ""
    n = _words(system if isinstance(system, str) else " ".join(b["text"] for b in system))
    for m in body["messages"]:
        n += 4 + sum(_words(t) for t in _texts(m["content"]))
        if isinstance(m["content"], list):
            n += sum(85 for b in m["content"] if b["type"] in ("image", "document"))
    return n


def _fill(schema: JSON, text: str) -> JSON:
    """Arguments for a tool call: every required property, strings taken from the user's last word."""
    last = re.sub(r"[^\w-]", "", (text.split() or ["x"])[-1]) or "x"
    out: JSON = {}
    props = schema.get("properties") or {}
    for name in schema.get("required") or list(props)[:1]:
        kind = (props.get(name) or {}).get("type", "string")
        out[name] = {"integer": 1, "number": 1.5, "boolean": True}.get(kind, last)
    return out


@dataclass
class Answer:
    blocks: list[JSON]
    stop_reason: str
    stop_sequence: str | None = None


def answer(body: JSON) -> Answer:
    last = body["messages"][-1]
    content = (
        last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    )
    results = [b for b in content if b["type"] == "tool_result"]
    text = " ".join(_texts([b for b in content if b["type"] == "text"]))
    if results:
        said = " | ".join(" ".join(_texts(r.get("content", ""))) for r in results)
        return _text_answer(f"The tool said: {said}", body)
    tools, choice = body.get("tools") or [], body.get("tool_choice") or {"type": "auto"}
    if tools and choice["type"] != "none":
        tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
        call = {"type": "tool_use", "id": "toolu_" + secrets.token_hex(12), "name": tool["name"]}
        call["input"] = _fill(tool["input_schema"], text)
        preamble = [{"type": "text", "text": "Let me check that."}] if choice["type"] == "auto" else []
        return Answer([*preamble, call], "tool_use")
    images = sum(1 for b in content if b["type"] == "image")
    seen = f" I see {images} image(s)." if images else ""
    return _text_answer(f"Hello! You said: {text}{seen}", body)


def _text_answer(text: str, body: JSON) -> Answer:
    for stop in body.get("stop_sequences") or []:
        if stop in text:
            return Answer([{"type": "text", "text": text.split(stop)[0]}], "stop_sequence", stop)
    words = text.split(" ")
    if len(words) > body["max_tokens"]:
        return Answer([{"type": "text", "text": " ".join(words[: body["max_tokens"]])}], "max_tokens")
    return Answer([{"type": "text", "text": text}], "end_turn")


def output_tokens(blocks: list[JSON]) -> int:
    n = 0
    for b in blocks:
        n += _words(b["text"]) if b["type"] == "text" else 10 + len(orjson.dumps(b["input"])) // 4
    return max(n, 1)


# --- the server ------------------------------------------------------------------------------------


@dataclass
class FakeAnthropic:
    """The fake; ``requests`` holds every body it accepted, ``headers`` their headers."""

    api_key: str
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    requests: list[JSON] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        return app

    def usage(self, body: JSON, output: int) -> JSON:
        return {
            "input_tokens": input_tokens(body),
            "output_tokens": output,
            "cache_creation_input_tokens": self.cache_creation_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
        }

    async def messages(self, request: web.Request) -> web.StreamResponse:
        # The documented header is x-api-key; recent SDKs send the key as a bearer token instead.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (request.headers.get("x-api-key"), bearer):
            return error_response(401, "authentication_error", "invalid x-api-key")
        version = request.headers.get("anthropic-version", "")
        if version not in TOP_LEVEL:
            return error_response(
                400, "invalid_request_error", f"anthropic-version: unknown version '{version}'"
            )
        try:
            body = orjson.loads(await request.read())
            validate_request(body, version)
        except (orjson.JSONDecodeError, Invalid) as exc:
            self.rejected.append(str(exc))
            return error_response(400, "invalid_request_error", str(exc) or "invalid JSON")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        model = body["model"]
        if model == "claude-reject":
            return error_response(400, "invalid_request_error", "messages.0: this request was rejected")
        if model == "claude-too-long":
            return error_response(
                400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            )
        if model == "claude-busy":
            return error_response(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                {"retry-after": "7"},
            )
        if model == "claude-overloaded" or (model == "claude-stream-overloaded" and not body.get("stream")):
            return error_response(529, "overloaded_error", "Overloaded")
        ans = answer(body)
        msg = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": ans.blocks,
            "stop_reason": ans.stop_reason,
            "stop_sequence": ans.stop_sequence,
            "usage": self.usage(body, output_tokens(ans.blocks)),
        }
        if body.get("stream"):
            return await self.stream(request, body, msg)
        at.Message.model_validate(msg)
        return web.json_response(msg)

    async def stream(self, request: web.Request, body: JSON, msg: JSON) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)

        async def send(event: JSON, *, validate: bool = True) -> None:
            if validate:
                _EVENT.validate_python(event)
            raw = f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\r\n\r\n"
            step = 1000 if body["model"] == "claude-huge" else len(raw)
            for k in range(0, len(raw), step):  # claude-huge: events split across many writes
                await resp.write(raw[k : k + step])

        start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**msg["usage"], "output_tokens": 1}
        await send({"type": "message_start", "message": start})
        if body["model"] == "claude-stream-overloaded":
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            await send(error, validate=False)
            return resp
        await send({"type": "ping"}, validate=False)
        deltas = 0
        for i, block in enumerate(msg["content"]):
            if block["type"] == "text":
                await send(
                    {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}
                )
                pieces = re.findall(r"\S+\s*", block["text"])
                if body["model"] == "claude-huge":  # one delta far longer than aiohttp's line buffer
                    pieces = [block["text"], "x" * 700_000]
                for piece in pieces:
                    if body["model"] == "claude-cut" and deltas == 2:
                        return resp  # the connection ends without message_stop
                    deltas += 1
                    delta = {"type": "text_delta", "text": piece}
                    await send({"type": "content_block_delta", "index": i, "delta": delta})
            else:
                cb = {**block, "input": {}}
                await send({"type": "content_block_start", "index": i, "content_block": cb})
                raw = orjson.dumps(block["input"]).decode()
                for k in range(0, len(raw), 7):
                    delta = {"type": "input_json_delta", "partial_json": raw[k : k + 7]}
                    await send({"type": "content_block_delta", "index": i, "delta": delta})
            await send({"type": "content_block_stop", "index": i})
        usage = {"output_tokens": msg["usage"]["output_tokens"]}
        delta = {"stop_reason": msg["stop_reason"], "stop_sequence": msg["stop_sequence"]}
        await send({"type": "message_delta", "delta": delta, "usage": usage})
        await send({"type": "message_stop"})
        return resp


@dataclass
class Running:
    fake: FakeAnthropic
    runner: web.AppRunner
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(fake: FakeAnthropic) -> Running:
    """Serve ``fake`` on 127.0.0.1 on a free port."""
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return Running(fake, runner, int(runner.addresses[0][1]))
