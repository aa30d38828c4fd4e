"""What a simulated model answers and how it misbehaves. Pure logic, shared by the in-process `sim`
provider and the `switchman sim` HTTP server."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from switchman.config.model import SimBehaviour

Fault = Literal["error", "rate_limit", "hang", "reset", "malformed", "context_length"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_FILLER = [
    "the",
    "answer",
    "depends",
    "on",
    "the",
    "details",
    "of",
    "the",
    "question",
    "and",
    "on",
    "what",
    "matters",
    "most",
    "here",
    "so",
    "this",
    "simulated",
    "model",
    "lists",
    "the",
    "main",
    "points",
    "clearly",
    "then",
    "gives",
    "a",
    "short",
    "conclusion",
    "that",
    "a",
    "reader",
    "can",
    "act",
    "on",
]


def count_tokens(text: str) -> int:
    """The sim's tokenizer: words and punctuation marks (deterministic, offline)."""
    return len(_TOKEN.findall(text))


def message_text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        for call in m.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                parts.append(str(call["function"].get("arguments", "")))
    return "\n".join(parts)


def prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    return count_tokens(message_text(messages if isinstance(messages, list) else []))


@dataclass(frozen=True, slots=True)
class SimAnswer:
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class SimModel:
    """One simulated model: counts its requests to decide faults deterministically."""

    def __init__(self, name: str, behaviour: SimBehaviour) -> None:
        self.name = name
        self.behaviour = behaviour
        self.requests = 0
        self._rng = random.Random(behaviour.seed)

    def next_fault(self) -> Fault | None:
        """Decide the fault (if any) of the next request."""
        b = self.behaviour
        self.requests += 1
        if self.requests <= b.fail_first:
            return b.fail_mode
        for rate, fault in (
            (b.error_rate, "error"),
            (b.rate_limit_rate, "rate_limit"),
            (b.hang_rate, "hang"),
            (b.reset_rate, "reset"),
            (b.malformed_rate, "malformed"),
        ):
            if rate and self._rng.random() < rate:
                return fault  # type: ignore[return-value]
        return None

    def over_context(self, body: dict[str, Any]) -> bool:
        cw = self.behaviour.context_window
        return bool(cw) and prompt_tokens(body) > cw

    def answer(self, body: dict[str, Any]) -> SimAnswer:
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        assert isinstance(messages, list)
        ptoks = prompt_tokens(body)
        tools = body.get("tools")
        last = messages[-1] if messages else {}
        wants_tool = (
            isinstance(tools, list)
            and tools
            and body.get("tool_choice") != "none"
            and isinstance(last, dict)
            and last.get("role") != "tool"
        )
        if wants_tool:
            assert isinstance(tools, list)
            call = _tool_call(tools[0], seed=message_text(messages))
            args = call["function"]["arguments"]
            return SimAnswer(None, [call], "tool_calls", ptoks, count_tokens(call["function"]["name"] + args))
        text = self._text(messages, body)
        max_toks = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(max_toks, int) and count_tokens(text) > max_toks:
            text = " ".join(_TOKEN.findall(text)[:max_toks])
            finish = "length"
        return SimAnswer(text, None, finish, ptoks, count_tokens(text))

    def _text(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        b = self.behaviour
        if b.answer is not None:
            text = b.answer
        else:
            prompt = message_text(messages[-1:]) if messages else ""
            digest = hashlib.sha256(f"{self.name}\n{message_text(messages)}".encode()).digest()
            start = digest[0] % len(_FILLER)
            words = [_FILLER[(start + i) % len(_FILLER)] for i in range(b.answer_words)]
            head = " ".join(prompt.split()[:8])
            last = messages[-1] if messages else {}
            if isinstance(last, dict) and last.get("role") == "tool":
                head = f"tool said {head}"
            text = f"[{self.name}] {head}: " + " ".join(words) + "."
        rf = body.get("response_format")
        if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
            text = orjson.dumps({"answer": text, "model": self.name}).decode()
        return text


def stream_pieces(text: str) -> list[str]:
    """Split an answer into stream deltas (one word, with its leading space, per chunk)."""
    pieces = re.findall(r"\s*\S+", text)
    return pieces or [text]


def _tool_call(tool: Any, *, seed: str) -> dict[str, Any]:
    fn = tool.get("function", {}) if isinstance(tool, dict) else {}
    name = str(fn.get("name", "tool"))
    params = fn.get("parameters")
    props = params.get("properties") if isinstance(params, dict) else None
    if not isinstance(props, dict):
        props = {}
    args: dict[str, Any] = {}
    for key, spec in props.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("enum"), list) and spec["enum"]:
            args[key] = spec["enum"][0]
        elif kind in ("number", "integer"):
            args[key] = 1
        elif kind == "boolean":
            args[key] = True
        elif kind == "array":
            args[key] = []
        elif kind == "object":
            args[key] = {}
        else:
            args[key] = "sim"
    call_id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:16]
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(args).decode()},
    }


def speed_delay(behaviour: SimBehaviour, tokens: int) -> float:
    """Seconds to generate ``tokens`` at the model's tokens/s (0 = instant)."""
    return tokens / behaviour.tokens_per_s if behaviour.tokens_per_s > 0 else 0.0
