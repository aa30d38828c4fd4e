"""``info_line`` writes the same JSON line as ``logger.info`` through the batching handler, and steps aside
when the logging setup is not switchman's own; the handler's batches; a real request's line."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from helpers import app_client
from switchman.config.load import parse_config
from switchman.records import CallRecord
from switchman.routing.explain import explain_json
from switchman.serving import logs, routes
from switchman.serving.app import create_app
from switchman.serving.keys import STATE
from switchman.wire import parse_chat_request


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[logs.BatchingStreamHandler]:
    h = logs.BatchingStreamHandler(io.StringIO(), interval_s=60)
    h.setFormatter(logs.JSONFormatter())
    monkeypatch.setattr(logs, "_batching", h)
    monkeypatch.setattr(logging.root, "handlers", [h])
    monkeypatch.setattr(logging.root, "level", logging.INFO)
    yield h
    h.close()


def lines(h: logs.BatchingStreamHandler) -> list[dict[str, Any]]:
    h.flush()
    assert isinstance(h.stream, io.StringIO)
    return [json.loads(line) for line in h.stream.getvalue().splitlines()]


def fields() -> dict[str, Any]:
    return {"request_id": "req_1", "call": orjson.Fragment(b'{"model":"m","cost_usd":0.5}'), "n": [1, 2]}


def test_same_line_as_logger_info(handler: logs.BatchingStreamHandler) -> None:
    logger = logging.getLogger("switchman.test.fast")
    logs.info_line(logger, "request", fields())
    logger.info("request", extra=fields())
    fast, slow = lines(handler)
    for ts in (fast.pop("ts"), slow.pop("ts")):
        assert len(ts) == len("2026-01-01T00:00:00.000Z") and ts[10] == "T" and ts.endswith("Z")
    assert list(fast) == list(slow) == ["level", "logger", "msg", "request_id", "call", "n"]
    assert (
        fast
        == slow
        == {
            "level": "info",
            "logger": "switchman.test.fast",
            "msg": "request",
            "request_id": "req_1",
            "call": {"model": "m", "cost_usd": 0.5},
            "n": [1, 2],
        }
    )


def test_filters_and_levels_still_apply(handler: logs.BatchingStreamHandler) -> None:
    logger = logging.getLogger("switchman.test.filtered")
    logger.addFilter(lambda record: False)  # a filter: the line must go through logging and be dropped
    try:
        logs.info_line(logger, "request", fields())
    finally:
        logger.filters.clear()
    quiet = logging.getLogger("switchman.test.quiet")
    quiet.setLevel(logging.WARNING)
    logs.info_line(quiet, "request", fields())
    assert lines(handler) == []


def test_lines_go_to_a_utf8_streams_buffer_in_order() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    h = logs.BatchingStreamHandler(stream, interval_s=60)
    h.setFormatter(logs.JSONFormatter())
    try:
        stream.write("written before\n")  # still in the text layer's buffer: must come out first
        h.add_line('{"a":"café"}'.encode())
        h.emit(logging.LogRecord("x", logging.INFO, "", 0, "é", None, None))
        h.flush()
        assert isinstance(stream.buffer, io.BytesIO)
        out = stream.buffer.getvalue().decode().splitlines()
        assert out[:2] == ["written before", '{"a":"café"}'] and json.loads(out[2])["msg"] == "é"
    finally:
        h.close()


def test_other_streams_get_text() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    h = logs.BatchingStreamHandler(stream, interval_s=60)
    try:
        h.add_line('{"a":"café"}'.encode())
        h.flush()
        assert isinstance(stream.buffer, io.BytesIO)
        assert stream.buffer.getvalue() == '{"a":"café"}\n'.encode("latin-1")
    finally:
        h.close()


def test_no_line_is_lost_when_threads_add_while_others_flush() -> None:
    stream = io.StringIO()
    h = logs.BatchingStreamHandler(stream, interval_s=0.0005, max_lines=7)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:

        def add(t: int) -> None:
            for i in range(3000):
                h.add_line(b"%d-%d" % (t, i))

        threads = [threading.Thread(target=add, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
        h.close()
    written = stream.getvalue().splitlines()
    assert sorted(written) == sorted(f"{t}-{i}" for t in range(4) for i in range(3000))
    for t in range(4):  # each thread's lines in its order
        assert [w for w in written if w.startswith(f"{t}-")] == [f"{t}-{i}" for i in range(3000)]


GATEWAY = """
server: {log_requests: true}
ledger: {enabled: false}
providers:
  sim: {type: sim}
models:
  small: {provider: sim, input_price: 0.15, output_price: 0.6, context_window: 16000, tier: small}
  large:
    {provider: sim, input_price: 3.0, output_price: 15.0, context_window: 200000, tier: large,
     capabilities: {vision: true}}
routers:
  switchman/auto:
    policy: threshold
    target: 0.7
    embedder: hashing
    rules: [{name: premium, when: {tier: [premium]}, then: {tier: top}}]
    routes:
      - {name: code, threshold: 0.3, then: {tier: top}, examples: [write a python function]}
"""


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("hello there", {}),
        ("write a python function that adds numbers", {}),
        ("hello", {"x-switchman-tier": "premium"}),
        ([{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "x"}}], {}),
    ],
)
async def test_a_requests_log_line_is_its_record_and_explain_json(
    handler: logs.BatchingStreamHandler, content: Any, headers: dict[str, str]
) -> None:
    app = create_app(parse_config(GATEWAY, env={}))
    messages = [{"role": "user", "content": content}]
    async with app_client(app) as client:
        resp = await client.chat.completions.with_raw_response.create(
            model="switchman/auto",
            messages=messages,
            extra_headers=headers,  # type: ignore[arg-type]
        )
    handler.flush()
    assert isinstance(handler.stream, io.StringIO)
    (line,) = [x for x in handler.stream.getvalue().splitlines() if '"msg":"request"' in x]
    entry = json.loads(line)
    assert entry["request_id"] == resp.headers["x-switchman-request-id"] == entry["call"]["request_id"]
    assert list(entry["call"]) == [f.name for f in dataclasses.fields(CallRecord)]
    # the same decision, made again by the same runtime: its explain_json is the line's, byte for byte
    runtime = app[STATE].runtime
    raw = orjson.dumps({"model": "switchman/auto", "messages": messages})
    req = parse_chat_request(raw, max_bytes=len(raw))
    decision = runtime.decide(routes._request_info(runtime, req, {k.lower(): v for k, v in headers.items()}))
    expected = orjson.dumps(explain_json(decision)).decode()
    assert line.endswith(',"decision":' + expected + "}")
    assert entry["decision"]["route"] == resp.headers["x-switchman-route"]
