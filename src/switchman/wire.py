"""The OpenAI Chat Completions wire format: parse requests, build responses, chunks and errors.

Requests are validated for the fields switchman reads and otherwise passed through untouched, so every
OpenAI field an upstream understands (tools, response_format, seed, logprobs, ...) reaches it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchman.errors import InvalidRequest, RequestTooLarge
from switchman.values import value

JSON = dict[str, Any]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBER_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_BOOL_FIELDS = ("stream", "logprobs", "parallel_tool_calls")


@value
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> JSON:
        out: JSON = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out


@value
class ChatRequest:
    """A validated chat completion request; ``body`` is the full original JSON for pass-through."""

    model: str
    messages: list[JSON]
    stream: bool
    body: JSON

    @property
    def max_output_tokens(self) -> int | None:
        v = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return v if isinstance(v, int) else None

    @property
    def tools(self) -> list[JSON]:
        tools = self.body.get("tools")
        return tools if isinstance(tools, list) else []

    @property
    def response_format(self) -> JSON | None:
        rf = self.body.get("response_format")
        return rf if isinstance(rf, dict) else None

    @property
    def metadata(self) -> dict[str, str]:
        md = self.body.get("metadata")
        if not isinstance(md, dict):
            return {}
        return {str(k): str(v) for k, v in md.items()}

    def upstream_body(self, upstream_model: str, *, stream: bool) -> JSON:
        """The body to send upstream: the client's fields with the upstream model name.

        Streams always ask for usage (``stream_options.include_usage``) so cost is known.
        """
        body = dict(self.body)
        body["model"] = upstream_model
        if stream:
            body["stream"] = True
            opts = body.get("stream_options")
            opts = dict(opts) if isinstance(opts, dict) else {}
            opts["include_usage"] = True
            body["stream_options"] = opts
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    @property
    def client_wants_usage(self) -> bool:
        opts = self.body.get("stream_options")
        return isinstance(opts, dict) and bool(opts.get("include_usage"))


@dataclass(slots=True)
class ChatResponse:
    """A non-streaming answer in the OpenAI shape; ``data`` is the JSON to return to the client."""

    data: JSON
    usage: Usage | None

    def set_model(self, model: str) -> None:
        self.data["model"] = model


@dataclass(slots=True)
class ChatChunk:
    """One streamed chunk in the OpenAI shape (``data``), with usage when this chunk carries it."""

    data: JSON
    usage: Usage | None = None
    #: True for chunks that carry choices (content, tool calls, finish_reason).
    has_choices: bool = field(default=True)
    #: Hint from the provider: the next chunk is already received, so the server may hold this one back
    #: and write both in one go (fewer socket writes; never delays a chunk).
    more_buffered: bool = False


def parse_chat_request(raw: bytes, *, max_bytes: int) -> ChatRequest:
    """Parse and validate a ``POST /v1/chat/completions`` body."""
    if len(raw) > max_bytes:
        raise RequestTooLarge(f"request body is {len(raw)} bytes; the limit is {max_bytes} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    return chat_request_from_json(body)


def chat_request_from_json(body: JSON) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = m.get("role")
        if role not in _ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))}", param=f"messages[{i}].role"
            )
        content = m.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(
                f"messages[{i}].content must be a string or an array of parts",
                param=f"messages[{i}].content",
            )
        calls = m.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise InvalidRequest(
                f"messages[{i}].tool_calls must be an array", param=f"messages[{i}].tool_calls"
            )
    _check_types(body)
    stream = body.get("stream") is True
    return ChatRequest(model=model, messages=messages, stream=stream, body=body)


def _check_types(body: Mapping[str, Any]) -> None:
    for name in _NUMBER_FIELDS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise InvalidRequest(f"'{name}' must be a number", param=name)
    for name in _INT_FIELDS:
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise InvalidRequest(f"'{name}' must be an integer", param=name)
        if name in ("max_tokens", "max_completion_tokens", "n") and isinstance(v, int) and v < 1:
            raise InvalidRequest(f"'{name}' must be at least 1", param=name)
    for name in _BOOL_FIELDS:
        v = body.get(name)
        if v is not None and not isinstance(v, bool):
            raise InvalidRequest(f"'{name}' must be a boolean", param=name)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    rf = body.get("response_format")
    if rf is not None and not isinstance(rf, dict):
        raise InvalidRequest("'response_format' must be an object", param="response_format")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise InvalidRequest("'stop' must be a string or an array of strings", param="stop")
    so = body.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    md = body.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise InvalidRequest("'metadata' must be an object", param="metadata")


# --- reading upstream answers ----------------------------------------------------------------------


def usage_from_json(data: Any) -> Usage | None:
    """Read an OpenAI ``usage`` object (None when absent or malformed)."""
    if not isinstance(data, dict):
        return None
    pt, ct = data.get("prompt_tokens"), data.get("completion_tokens")
    if not isinstance(pt, int) or not isinstance(ct, int):
        return None
    details = data.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(pt, ct, cached if isinstance(cached, int) else 0)


def response_from_json(data: JSON) -> ChatResponse:
    return ChatResponse(data=data, usage=usage_from_json(data.get("usage")))


def chunk_from_json(data: JSON) -> ChatChunk:
    choices = data.get("choices")
    return ChatChunk(data=data, usage=usage_from_json(data.get("usage")), has_choices=bool(choices))


def response_text(data: JSON) -> str:
    """The text of the first choice of a non-streaming response ('' if none)."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return ""
    msg = choices[0].get("message") if isinstance(choices[0], dict) else None
    content = msg.get("content") if isinstance(msg, dict) else None
    return content if isinstance(content, str) else ""


def chunk_text(data: JSON) -> str:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


# --- building answers ------------------------------------------------------------------------------


def new_completion_id() -> str:
    import secrets

    return "chatcmpl-" + secrets.token_hex(12)


def completion_json(
    *,
    completion_id: str,
    model: str,
    content: str | None,
    usage: Usage,
    finish_reason: str = "stop",
    tool_calls: list[JSON] | None = None,
    created: int | None = None,
) -> JSON:
    message: JSON = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage.to_json(),
    }


def chunk_json(
    *,
    completion_id: str,
    model: str,
    created: int,
    delta: JSON | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
) -> JSON:
    out: JSON = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": []
        if delta is None and finish_reason is None
        else [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        out["usage"] = usage.to_json()
    return out


def sse_event(data: JSON) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def error_json(status: int, body: JSON) -> bytes:
    del status
    return orjson.dumps(body)


def models_list_json(models: list[tuple[str, str]]) -> JSON:
    """``GET /v1/models`` body from ``(id, owned_by)`` pairs."""
    return {
        "object": "list",
        "data": [{"id": mid, "object": "model", "created": 0, "owned_by": owner} for mid, owner in models],
    }
