"""Anthropic Messages API answers → OpenAI Chat Completions answers and stream chunks.

Pure translation, no I/O: :func:`chat_response` for a ``Message``, :class:`StreamTranslator` for the
event stream, :func:`stream_error` for ``error`` events inside a stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from switchman.errors import (
    UpstreamBadResponse,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
)
from switchman.wire import (
    JSON,
    ChatChunk,
    ChatResponse,
    Usage,
    chunk_from_json,
    chunk_json,
    completion_json,
    response_from_json,
)

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def usage_counts(data: Any, into: dict[str, int] | None = None) -> dict[str, int]:
    """The integer token counts of a Messages ``usage`` object, merged over ``into``.

    Stream events carry cumulative counts: ``message_start`` the input side, ``message_delta`` the output
    side (and, on newer API versions, the input side again), so later values replace earlier ones.
    """
    out = dict(into or {})
    if isinstance(data, dict):
        for key in _USAGE_KEYS:
            v = data.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                out[key] = v
    return out


def usage_of(counts: Mapping[str, int]) -> Usage:
    """OpenAI usage: prompt tokens include cache reads and cache writes; cached = cache reads."""
    read = counts.get("cache_read_input_tokens", 0)
    prompt = counts.get("input_tokens", 0) + read + counts.get("cache_creation_input_tokens", 0)
    return Usage(prompt, counts.get("output_tokens", 0), read)


def finish_reason(stop_reason: Any) -> str:
    return _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _tool_call(block: JSON) -> JSON:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {"name": block.get("name"), "arguments": orjson.dumps(block.get("input") or {}).decode()},
    }


def chat_response(data: JSON, provider: str) -> ChatResponse:
    """A Messages API ``Message`` → an OpenAI ``chat.completion``."""
    content = data.get("content")
    if data.get("type") != "message" or not isinstance(content, list):
        raise UpstreamBadResponse(
            f"{provider}: upstream answered something that is not a Message", provider=provider
        )
    texts = [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text" and "text" in b]
    calls = [_tool_call(b) for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
    msg_id = data.get("id")
    out = completion_json(
        completion_id=f"chatcmpl-{msg_id}" if isinstance(msg_id, str) else "chatcmpl-anthropic",
        model=str(data.get("model") or ""),
        content="".join(texts) if texts else None,
        usage=usage_of(usage_counts(data.get("usage"))),
        finish_reason=finish_reason(data.get("stop_reason")),
        tool_calls=calls or None,
    )
    return response_from_json(out)


def stream_error(data: JSON, provider: str, redact: Callable[[str], str] = str) -> UpstreamError:
    """The error an ``error`` event inside a stream stands for (``overloaded_error`` is a retryable 529)."""
    err = data.get("error")
    etype = err.get("type") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    text = f"{provider}: upstream stream error {etype or 'unknown'}: {redact(str(message or ''))[:300]}"
    if etype == "rate_limit_error":
        return UpstreamRateLimited(text, provider=provider, upstream_status=429, code=etype)
    if etype in ("invalid_request_error", "request_too_large"):
        return UpstreamClientError(text, provider=provider, upstream_status=400, code=etype)
    status = 529 if etype == "overloaded_error" else 500
    return UpstreamServerError(text, provider=provider, upstream_status=status, code=etype)


# --- stream: Messages events → OpenAI chunks -------------------------------------------------------


class StreamTranslator:
    """Feed Messages stream events (parsed JSON) in order; get OpenAI chunks out.

    The role chunk is held back until the first content event, so an ``error`` event that arrives right
    after ``message_start`` still happens before the first chunk (dispatch can then fall back).
    """

    def __init__(self, provider: str, redact: Callable[[str], str] = str) -> None:
        self.provider = provider
        self._redact = redact
        self.finished = False
        self._id = "chatcmpl-anthropic"
        self._model = ""
        self._created = int(time.time())
        self._counts: dict[str, int] = {}
        self._stop_reason: Any = None
        self._started = False
        self._tool_index: dict[int, int] = {}  # content block index → OpenAI tool call index

    def _chunk(self, delta: JSON | None = None, **kw: Any) -> ChatChunk:
        return chunk_from_json(
            chunk_json(completion_id=self._id, model=self._model, created=self._created, delta=delta, **kw)
        )

    def _open(self) -> list[ChatChunk]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: JSON) -> list[ChatChunk]:
        etype = event.get("type")
        if etype == "message_start":
            msg = event.get("message")
            msg = msg if isinstance(msg, dict) else {}
            if isinstance(msg.get("id"), str):
                self._id = "chatcmpl-" + msg["id"]
            self._model = str(msg.get("model") or "")
            self._counts = usage_counts(msg.get("usage"))
            return []
        if etype == "content_block_start":
            return self._open() + self._block_start(event)
        if etype == "content_block_delta":
            return self._open() + self._block_delta(event)
        if etype == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._counts = usage_counts(event.get("usage"), self._counts)
            return []
        if etype == "message_stop":
            self.finished = True
            return [
                *self._open(),
                self._chunk({}, finish_reason=finish_reason(self._stop_reason)),
                self._chunk(None, usage=usage_of(self._counts)),
            ]
        if etype == "error":
            raise stream_error(event, self.provider, self._redact)
        return []  # ping, content_block_stop, and event types added later

    def _block_start(self, event: JSON) -> list[ChatChunk]:
        block = event.get("content_block")
        if not isinstance(block, dict):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") == "tool_use":
            index = len(self._tool_index)
            self._tool_index[_int(event.get("index"))] = index
            start = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            chunks = [self._chunk({"tool_calls": [start]})]
            if block.get("input"):  # normally {} at start; the JSON arrives in deltas
                args = orjson.dumps(block["input"]).decode()
                chunks.append(
                    self._chunk({"tool_calls": [{"index": index, "function": {"arguments": args}}]})
                )
            return chunks
        return []  # thinking and server-tool blocks are not part of the OpenAI answer

    def _block_delta(self, event: JSON) -> list[ChatChunk]:
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(_int(event.get("index")))
            if index is None:
                return []
            fn = {"arguments": delta["partial_json"]}
            return [self._chunk({"tool_calls": [{"index": index, "function": fn}]})]
        return []


def _int(v: Any) -> int:
    return v if isinstance(v, int) else -1
