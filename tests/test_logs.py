"""``info_line`` writes the same JSON line as ``logger.info`` through the batching handler, and steps aside
when the logging setup is not switchman's own."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from switchman.serving import logs


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
