"""Backends under test: in-process, and the real Redis on 127.0.0.1:6379 (a fresh key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from helpers import REDIS_URL, drop_prefix
from switchman.limits import LimitBackend, MemoryBackend
from switchman.limits.redis import RedisBackend


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    prefix = f"switchman-test:{uuid.uuid4().hex[:12]}:"
    be = RedisBackend(REDIS_URL, prefix=prefix)
    await be.start()
    assert be.connected, "the Redis on 127.0.0.1:6379 must run for these tests (make services)"
    try:
        yield be
    finally:
        await be.aclose()
        drop_prefix(prefix)
