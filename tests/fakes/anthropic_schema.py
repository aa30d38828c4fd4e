"""The documented request shape of the Anthropic Messages API, as the fake server checks it.

Top-level fields come from the installed ``anthropic`` SDK's request types (API version 2026-10-21) plus
the sampling parameters that version 2023-06-01 still has; content blocks, tools and tool_choice are
checked field by field, including the tool_use → tool_result pairing rules.
"""

from __future__ import annotations

import base64
import binascii
import re
import typing
from typing import Any

from anthropic.types.message_create_params import MessageCreateParamsStreaming

JSON = dict[str, Any]

#: Request fields of API version 2026-10-21 (what the installed SDK sends); 2023-06-01 also has the
#: sampling parameters, which 2026-10-21 removed ("temperature: Extra inputs are not permitted").
TOP_LEVEL = {
    "2026-10-21": frozenset(typing.get_type_hints(MessageCreateParamsStreaming)),
    "2023-06-01": frozenset(typing.get_type_hints(MessageCreateParamsStreaming))
    | {"temperature", "top_p", "top_k"},
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
BLOCK_KEYS = {
    "text": {"type", "text", "cache_control", "citations"},
    "image": {"type", "source", "cache_control"},
    "document": {"type", "source", "cache_control", "title", "context", "citations"},
    "tool_use": {"type", "id", "name", "input", "cache_control"},
    "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
}
ROLE_BLOCKS = {"user": {"text", "image", "document", "tool_result"}, "assistant": {"text", "tool_use"}}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


class Invalid(Exception):
    """The request does not have the documented shape (answered as 400 invalid_request_error)."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise Invalid(message)


def validate_request(body: Any, version: str) -> None:
    _check(isinstance(body, dict), "body: must be a JSON object")
    for key in body:
        _check(key in TOP_LEVEL[version], f"{key}: Extra inputs are not permitted")
    _check(isinstance(body.get("model"), str) and body["model"] != "", "model: Field required")
    mt = body.get("max_tokens")
    _check(isinstance(mt, int) and not isinstance(mt, bool) and mt >= 1, "max_tokens: Field required")
    _check(isinstance(body.get("stream", False), bool), "stream: Input should be a valid boolean")
    for name in ("temperature", "top_p"):
        v = body.get(name)
        _check(v is None or (isinstance(v, int | float) and 0 <= v <= 1), f"{name}: must be between 0 and 1")
    stops = body.get("stop_sequences", [])
    _check(isinstance(stops, list) and all(isinstance(s, str) for s in stops), "stop_sequences: list of str")
    md = body.get("metadata", {})
    _check(isinstance(md, dict) and set(md) <= {"user_id"}, "metadata: only user_id is allowed")
    system = body.get("system")
    if isinstance(system, list):
        for i, b in enumerate(system):
            _block(b, f"system.{i}", {"text"})
    else:
        _check(system is None or isinstance(system, str), "system: must be a string or text blocks")
    tools = body.get("tools")
    names = _validate_tools(tools) if tools is not None else set()
    if "tool_choice" in body:
        _check(tools is not None, "tool_choice: may only be specified while providing tools")
        _validate_tool_choice(body["tool_choice"], names)
    _validate_messages(body.get("messages"))


def _validate_tools(tools: Any) -> set[str]:
    _check(isinstance(tools, list), "tools: must be a list")
    names = set()
    for i, t in enumerate(tools):
        _check(isinstance(t, dict), f"tools.{i}: must be an object")
        _check(
            set(t) <= {"name", "description", "input_schema", "cache_control", "type"}, f"tools.{i}: extra"
        )
        _check(
            isinstance(t.get("name"), str) and bool(TOOL_NAME.match(t["name"])), f"tools.{i}.name: invalid"
        )
        schema = t.get("input_schema")
        _check(
            isinstance(schema, dict) and schema.get("type") == "object",
            f"tools.{i}.input_schema: type object",
        )
        _check(isinstance(t.get("description", ""), str), f"tools.{i}.description: must be a string")
        names.add(t["name"])
    return names


def _validate_tool_choice(choice: Any, names: set[str]) -> None:
    _check(isinstance(choice, dict), "tool_choice: must be an object")
    ctype = choice.get("type")
    _check(ctype in ("auto", "any", "tool", "none"), f"tool_choice.type: unknown '{ctype}'")
    allowed = {"type", "disable_parallel_tool_use"} | ({"name"} if ctype == "tool" else set())
    if ctype == "none":
        allowed = {"type"}
    _check(set(choice) <= allowed, "tool_choice: Extra inputs are not permitted")
    if ctype == "tool":
        _check(choice.get("name") in names, f"tool_choice.name: no tool named {choice.get('name')!r}")


def _validate_messages(messages: Any) -> None:
    _check(isinstance(messages, list) and bool(messages), "messages: at least one message is required")
    pending: set[str] = set()  # tool_use ids of the previous assistant turn awaiting results
    for i, m in enumerate(messages):
        _check(isinstance(m, dict) and set(m) == {"role", "content"}, f"messages.{i}: needs role and content")
        role, content = m["role"], m["content"]
        _check(role in ROLE_BLOCKS, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if isinstance(content, str):
            _check(content != "", f"messages.{i}: text content must be non-empty")
            blocks: list[JSON] = []
        else:
            _check(
                isinstance(content, list) and bool(content), f"messages.{i}.content: non-empty list required"
            )
            blocks = content
        for j, b in enumerate(blocks):
            _block(b, f"messages.{i}.content.{j}", ROLE_BLOCKS[role])
        if role == "user":
            results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
            first_other = next((j for j, b in enumerate(blocks) if b["type"] != "tool_result"), len(blocks))
            _check(
                all(b["type"] != "tool_result" for b in blocks[first_other:]),
                f"messages.{i}: tool_result blocks must come first in the content",
            )
            for r in results:
                _check(r in pending, f"messages.{i}: unexpected tool_use_id found in tool_result blocks: {r}")
            _check(
                pending <= set(results),
                f"messages.{i}: tool_use ids were found without tool_result blocks immediately after",
            )
            pending = set()
        else:
            _check(not pending, f"messages.{i}: tool_use ids were found without tool_result blocks")
            pending = {b["id"] for b in blocks if b["type"] == "tool_use"}
            last = content if isinstance(content, str) else blocks[-1].get("text", "x")
            _check(
                i < len(messages) - 1 or last == last.rstrip(),
                "final assistant content cannot end with trailing whitespace",
            )


def _block(b: Any, where: str, allowed_types: set[str]) -> None:
    _check(isinstance(b, dict), f"{where}: must be an object")
    btype = b.get("type")
    _check(btype in allowed_types, f"{where}.type: '{btype}' is not allowed here")
    _check(
        set(b) <= BLOCK_KEYS[btype], f"{where}: Extra inputs are not permitted: {set(b) - BLOCK_KEYS[btype]}"
    )
    if btype == "text":
        _check(
            isinstance(b.get("text"), str) and b["text"] != "",
            f"{where}: text content blocks must be non-empty",
        )
    elif btype in ("image", "document"):
        _source(b.get("source"), where, btype)
    elif btype == "tool_use":
        _check(
            isinstance(b.get("id"), str) and isinstance(b.get("name"), str), f"{where}: id and name required"
        )
        _check(isinstance(b.get("input"), dict), f"{where}.input: Input should be a valid dictionary")
    elif btype == "tool_result":
        _check(isinstance(b.get("tool_use_id"), str), f"{where}.tool_use_id: Field required")
        content = b.get("content", "")
        if isinstance(content, list):
            for k, c in enumerate(content):
                _block(c, f"{where}.content.{k}", {"text", "image"})
        else:
            _check(isinstance(content, str), f"{where}.content: string or blocks")


def _source(src: Any, where: str, btype: str) -> None:
    _check(isinstance(src, dict), f"{where}.source: Field required")
    if src.get("type") == "url":
        _check(set(src) == {"type", "url"} and str(src.get("url")).startswith("http"), f"{where}.source: url")
        return
    _check(
        src.get("type") == "base64" and set(src) == {"type", "media_type", "data"}, f"{where}.source: base64"
    )
    kinds = IMAGE_TYPES if btype == "image" else {"application/pdf"}
    _check(
        src.get("media_type") in kinds, f"{where}.source.media_type: Input should be one of {sorted(kinds)}"
    )
    try:
        base64.b64decode(src["data"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise Invalid(f"{where}.source.data: invalid base64 data") from None
