"""Authentication of API requests with virtual keys (``Authorization: Bearer sm-…``).

Keys are read from the store into memory and refreshed in the background every ``auth.cache_ttl_s``, so
checking a key costs one SHA-256 and one dict lookup. An unknown secret triggers at most one extra refresh
a second (a key created a moment ago works at once; random secrets cannot hammer the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from switchman.errors import AuthenticationFailed, ServiceUnavailable
from switchman.keys import ApiKey, KeyStore, hash_secret

log = logging.getLogger("switchman.auth")

#: Least seconds between two refreshes caused by unknown secrets.
MISS_REFRESH_S = 1.0


def presented_secret(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``Authorization: Bearer …`` (OpenAI SDKs) or ``x-api-key`` (Anthropic's)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return headers.get("x-api-key") or None


class KeyCache:
    def __init__(self, store: KeyStore, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._by_hash: dict[str, ApiKey] = {}
        self._loaded = False
        self._loaded_at = 0.0
        self._miss_at = 0.0
        self._failing = False
        self._inflight: asyncio.Task[None] | None = None
        self._loop: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._by_hash)

    async def start(self) -> None:
        await self.refresh()
        if self.ttl_s > 0 and self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s)
            await self.refresh()

    async def refresh(self) -> None:
        """Reload every key from the store (one load at a time; concurrent callers share it)."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._load())
        await asyncio.shield(self._inflight)

    async def _load(self) -> None:
        try:
            keys = await self.store.all()
        except Exception as exc:  # store unreachable: keep serving with the keys already loaded
            if not self._failing:
                log.warning(
                    "key store unreachable; using the keys loaded before", extra={"error": type(exc).__name__}
                )
            self._failing = True
            return
        if self._failing:
            log.info("key store reachable again")
        self._failing = False
        self._by_hash = {k.hash: k for k in keys}
        self._loaded, self._loaded_at = True, time.monotonic()

    async def lookup(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        now = time.monotonic()
        if self.ttl_s <= 0 or not self._loaded:
            await self.refresh()
        h = hash_secret(secret)
        key = self._by_hash.get(h)
        if key is None and now - self._miss_at >= MISS_REFRESH_S:
            self._miss_at = now
            await self.refresh()
            key = self._by_hash.get(h)
        if key is None and not self._loaded:
            raise ServiceUnavailable("the API key could not be checked: the key store is unreachable")
        return key if key is not None and key.active else None

    def status(self) -> dict[str, object]:
        return {"keys": len(self._by_hash), "store_reachable": not self._failing}

    async def aclose(self) -> None:
        for task in (self._loop, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.store.aclose()


async def authenticate(cache: KeyCache, headers: Mapping[str, str]) -> ApiKey:
    """The caller's key; :class:`AuthenticationFailed` (401) when it is missing, unknown or revoked."""
    secret = presented_secret(headers)
    if secret is None:
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <key>' (create keys with `switchman keys create`)",
            code="missing_api_key",
        )
    key = await cache.lookup(secret)
    if key is None:
        raise AuthenticationFailed("Invalid or revoked API key", code="invalid_api_key")
    return key
