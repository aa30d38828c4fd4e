"""Where keys live, behind one protocol: a SQLite file (one host) or Redis (shared by replicas).

Why not the ledger's SQL database: keys are needed on every request, with or without a ledger, and the
gateway reads them all into memory (a handful to thousands of rows) and refreshes that copy every
``auth.cache_ttl_s``, so the store is off the hot path. SQLite needs no service on one host; replicas share
the Redis they already use for limits, so a key created or revoked on one is seen by all.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Protocol

from switchman.config.limits import AuthConfig, StateConfig
from switchman.errors import ConfigError
from switchman.keys.model import ApiKey

DEFAULT_KEYS_PATH = ".switchman/keys.db"


class KeyStore(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def all(self) -> list[ApiKey]: ...

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Mark a key revoked; None when there is no such key."""
        ...

    async def aclose(self) -> None: ...


class SqliteKeyStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
                " revoked REAL, data TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the keys database {self.path}: {exc}") from exc
        self._lock = asyncio.Lock()

    async def add(self, key: ApiKey) -> None:
        async with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (id, hash, revoked, data) VALUES (?, ?, ?, ?)",
                (key.id, key.hash, key.revoked, json.dumps(key.to_json())),
            )

    async def all(self) -> list[ApiKey]:
        async with self._lock:
            rows = self._db.execute("SELECT data FROM api_keys ORDER BY rowid").fetchall()
        return [ApiKey.from_json(json.loads(r[0])) for r in rows]

    async def revoke(self, key_id: str) -> ApiKey | None:
        async with self._lock:
            row = self._db.execute("SELECT data FROM api_keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                return None
            key = ApiKey.from_json(json.loads(row[0]))
            if key.active:
                key = key.revoke()
                self._db.execute(
                    "UPDATE api_keys SET revoked = ?, data = ? WHERE id = ?",
                    (key.revoked, json.dumps(key.to_json()), key.id),
                )
            return key

    async def aclose(self) -> None:
        self._db.close()


class RedisKeyStore:
    """One Redis hash ``{prefix}keys``: key id → the key's JSON."""

    def __init__(self, url: str, prefix: str, timeout_s: float = 1.0) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._hash = prefix + "keys"

    async def add(self, key: ApiKey) -> None:
        await self._redis.hset(self._hash, key.id, json.dumps(key.to_json()))

    async def all(self) -> list[ApiKey]:
        raw = await self._redis.hgetall(self._hash)
        keys = [ApiKey.from_json(json.loads(v)) for v in raw.values()]
        return sorted(keys, key=lambda k: k.created)

    async def revoke(self, key_id: str) -> ApiKey | None:
        raw = await self._redis.hget(self._hash, key_id)
        if raw is None:
            return None
        key = ApiKey.from_json(json.loads(raw))
        if key.active:
            key = key.revoke()
            await self._redis.hset(self._hash, key.id, json.dumps(key.to_json()))
        return key

    async def aclose(self) -> None:
        await self._redis.aclose()


def open_store(auth: AuthConfig, state: StateConfig) -> KeyStore:
    """The store the config names (``auth.store``; ``auto`` follows ``state.backend``)."""
    kind = auth.store if auth.store != "auto" else ("redis" if state.backend == "redis" else "sqlite")
    if kind == "redis":
        return RedisKeyStore(state.url.get_secret_value(), state.prefix)
    return SqliteKeyStore(auth.keys_path or DEFAULT_KEYS_PATH)
