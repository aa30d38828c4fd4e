"""Virtual API keys (``switchman keys``): hashed secrets with a tier, allowed models and limits."""

from __future__ import annotations

from switchman.keys.model import ApiKey, hash_secret, make_key
from switchman.keys.store import KeyStore, RedisKeyStore, SqliteKeyStore, open_store

__all__ = ["ApiKey", "KeyStore", "RedisKeyStore", "SqliteKeyStore", "hash_secret", "make_key", "open_store"]
