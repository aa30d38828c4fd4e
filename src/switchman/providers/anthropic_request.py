"""OpenAI Chat Completions request → Anthropic Messages API request (version 2023-06-01).

Pure translation, no I/O. What the Messages API cannot express (several choices, legacy function
messages, audio parts...) raises :class:`Unsupported` before any call is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchman.errors import UpstreamClientError
from switchman.wire import JSON, ChatRequest

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_JSON_OBJECT_INSTRUCTION = (
    "Respond only with a single valid JSON object. Do not wrap it in Markdown code fences and do not "
    "add any text before or after it."
)


class Unsupported(UpstreamClientError):
    """The OpenAI request uses something the Messages API cannot express (detected before any call).

    Not retried; another model (on an OpenAI-compatible provider) may serve it, so fallback is allowed.
    """

    fallback_ok = True


def messages_request(
    req: ChatRequest,
    model: str,
    *,
    provider: str,
    default_max_tokens: int,
    max_output_tokens: int | None,
    sampling: bool = True,
) -> JSON:
    """The Messages API body for ``req`` sent to ``model`` (``stream`` is set by the caller).

    ``sampling``: send ``temperature``/``top_p`` (API version 2023-06-01 has them; 2026-10-21 removed them).
    """
    body = req.body
    system, messages = _translate_messages(req.messages, provider)
    max_tokens = req.max_output_tokens or max_output_tokens or default_max_tokens
    if max_output_tokens is not None:
        max_tokens = min(max_tokens, max_output_tokens)  # above the model's limit the API answers 400
    out: JSON = {"model": model, "max_tokens": max_tokens, "messages": messages}
    instruction = _response_format_instruction(req.response_format)
    if instruction:
        system.append(instruction)
    if system:
        out["system"] = "\n\n".join(system)
    if sampling:
        _sampling(body, out)
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s.strip()]
    if stops:
        out["stop_sequences"] = stops
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise _unsupported(provider, "n > 1 (several choices) is not supported by the Messages API", "n")
    tools = [_tool(t, provider) for t in req.tools]
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), provider)
        if choice is not None:
            out["tool_choice"] = choice
    return out


def _sampling(body: Mapping[str, Any], out: JSON) -> None:
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)  # OpenAI allows up to 2
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        out["top_p"] = float(top_p)


def _unsupported(provider: str, what: str, param: str | None = None) -> Unsupported:
    err = Unsupported(
        f"{provider}: {what}", provider=provider, upstream_status=400, code="unsupported_by_provider"
    )
    err.param = param
    return err


def _translate_messages(messages: list[JSON], provider: str) -> tuple[list[str], list[JSON]]:
    system: list[str] = []
    turns: list[JSON] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        if role in ("system", "developer"):
            text = _text_of(m.get("content"), provider, i)
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(m.get("content"), provider, i)
            _append(turns, "user", blocks)
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(m, provider, i))
        elif role == "tool":
            _append(turns, "user", [_tool_result(m, provider, i)])
        else:
            raise _unsupported(
                provider, f"messages[{i}]: role '{role}' is not supported (use tools)", f"messages[{i}].role"
            )
    _trim_prefill(turns)
    if not turns:
        raise _unsupported(provider, "the Messages API needs at least one user or assistant message")
    for turn in turns:
        content = turn["content"]
        if turn["role"] == "user" and isinstance(content, list):
            # tool_result blocks must come first in a user turn
            content.sort(key=lambda b: b.get("type") != "tool_result")
    return system, turns


def _trim_prefill(turns: list[JSON]) -> None:
    """A final assistant turn (a prefill) must not end with whitespace: the API answers 400."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    blocks = turns[-1]["content"]
    if blocks and blocks[-1].get("type") == "text":
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = {"type": "text", "text": text}
        else:
            blocks.pop()
    if not blocks:
        turns.pop()


def _append(turns: list[JSON], role: str, blocks: list[JSON]) -> None:
    """Add a turn, merging it into the previous one when the role repeats (the API wants alternation)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_of(content: Any, provider: str, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            raise _unsupported(provider, f"messages[{i}]: only text parts are allowed here", f"messages[{i}]")
    return "\n".join(parts)


def _user_blocks(content: Any, provider: str, i: int) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        ptype = part.get("type") if isinstance(part, dict) else None
        if ptype == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif ptype == "image_url":
            blocks.append(_image_block(part.get("image_url"), provider, f"messages[{i}].content[{j}]"))
        elif ptype == "file":
            blocks.append(_document_block(part.get("file"), provider, f"messages[{i}].content[{j}]"))
        else:
            raise _unsupported(
                provider,
                f"messages[{i}].content[{j}]: part type '{ptype}' is not supported",
                f"messages[{i}]",
            )
    return blocks


def _split_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,XXXX`` → (``image/png``, ``XXXX``); None for anything else."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head.removesuffix(";base64").lower(), data


def _image_block(image: Any, provider: str, where: str) -> JSON:
    url = image.get("url") if isinstance(image, dict) else image if isinstance(image, str) else None
    if not isinstance(url, str) or not url:
        raise _unsupported(provider, f"{where}: image_url.url is missing", where)
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    split = _split_data_url(url)
    if split is None:
        raise _unsupported(provider, f"{where}: images must be http(s) or base64 data: URLs", where)
    media_type, data = split
    if media_type == "image/jpg":
        media_type = "image/jpeg"
    if media_type not in _IMAGE_TYPES:
        raise _unsupported(provider, f"{where}: image type '{media_type}' is not supported", where)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document_block(file: Any, provider: str, where: str) -> JSON:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    split = _split_data_url(data_url) if isinstance(data_url, str) else None
    if split is None or split[0] != "application/pdf":
        raise _unsupported(
            provider, f"{where}: only PDF files given as base64 file_data are supported", where
        )
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": split[1]},
    }


def _assistant_blocks(m: JSON, provider: str, i: int) -> list[JSON]:
    content = m.get("content")
    blocks: list[JSON] = []
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for part in content:
            text = part.get("text") or part.get("refusal") if isinstance(part, dict) else None
            if isinstance(text, str) and text:
                blocks.append({"type": "text", "text": text})
    for j, call in enumerate(m.get("tool_calls") or []):
        fn = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(fn, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(fn.get("name"), str)
        ):
            raise _unsupported(provider, f"messages[{i}].tool_calls[{j}] is malformed", f"messages[{i}]")
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": fn["name"],
                "input": _arguments(fn, provider, i, j),
            }
        )
    if m.get("function_call") is not None:
        raise _unsupported(provider, f"messages[{i}]: legacy function_call is not supported (use tools)")
    return blocks


def _arguments(fn: JSON, provider: str, i: int, j: int) -> JSON:
    raw = fn.get("arguments")
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw) if isinstance(raw, str | bytes) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise _unsupported(
            provider, f"messages[{i}].tool_calls[{j}].function.arguments must be a JSON object", "messages"
        )
    return value


def _tool_result(m: JSON, provider: str, i: int) -> JSON:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _unsupported(provider, f"messages[{i}]: a tool message needs tool_call_id", f"messages[{i}]")
    text = _text_of(m.get("content"), provider, i)
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    if text:
        block["content"] = text
    return block


def _tool(tool: Any, provider: str) -> JSON:
    fn = (
        tool.get("function")
        if isinstance(tool, dict) and tool.get("type", "function") == "function"
        else None
    )
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise _unsupported(provider, "only tools of type 'function' with a name are supported", "tools")
    params = fn.get("parameters")
    out: JSON = {
        "name": fn["name"],
        "input_schema": params if isinstance(params, dict) else {"type": "object", "properties": {}},
    }
    if isinstance(fn.get("description"), str) and fn["description"]:
        out["description"] = fn["description"]
    return out


def _tool_choice(choice: Any, parallel: Any, provider: str) -> JSON | None:
    out: JSON | None
    if choice is None or choice == "auto":
        out = {"type": "auto"} if parallel is False else None
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if not isinstance(name, str):
            raise _unsupported(provider, "tool_choice.function.name is missing", "tool_choice")
        out = {"type": "tool", "name": name}
    else:
        raise _unsupported(provider, f"tool_choice {choice!r} is not supported", "tool_choice")
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def _response_format_instruction(rf: Mapping[str, Any] | None) -> str | None:
    if rf is None:
        return None
    if rf.get("type") == "json_object":
        return _JSON_OBJECT_INSTRUCTION
    if rf.get("type") == "json_schema":
        spec = rf.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return (
                _JSON_OBJECT_INSTRUCTION
                + " The object must validate against this JSON Schema:\n"
                + orjson.dumps(schema).decode()
            )
        return _JSON_OBJECT_INSTRUCTION
    return None
