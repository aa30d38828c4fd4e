"""Key stores (SQLite file, real Redis) and the key cache behind authentication."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from switchman.config.limits import KeyLimits
from switchman.errors import AuthenticationFailed
from switchman.keys import KeyStore, RedisKeyStore, SqliteKeyStore, hash_secret, make_key
from switchman.serving.auth import KeyCache, authenticate, presented_secret

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    if request.param == "sqlite":
        s: KeyStore = SqliteKeyStore(tmp_path / "keys.db")
        yield s
        await s.aclose()
        return
    prefix = f"switchman-test:{uuid.uuid4().hex[:12]}:"
    s = RedisKeyStore(REDIS_URL, prefix)
    yield s
    await s.aclose()
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(prefix + "keys")
    client.close()


async def test_add_list_revoke(store: KeyStore) -> None:
    key, secret = make_key("alice", tier="premium", models=["tiny"], limits=KeyLimits(rpm=5, daily_usd=1.5))
    other, _ = make_key("bob")
    await store.add(key)
    await store.add(other)
    listed = await store.all()
    assert [k.id for k in listed] == [key.id, other.id]
    got = listed[0]
    assert got == key and got.hash == hash_secret(secret) and got.tier == "premium"
    assert got.limits() == KeyLimits(rpm=5, daily_usd=1.5) and got.models == ("tiny",)
    revoked = await store.revoke(key.id)
    assert revoked is not None and not revoked.active
    assert not (await store.all())[0].active
    assert await store.revoke("key_nope") is None


async def test_secret_is_never_stored(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "keys.db")
    key, secret = make_key("alice")
    await store.add(key)
    await store.aclose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in raw and secret[3:].encode() not in raw
    assert key.hash.encode() in raw
    assert "hash" not in key.public() and secret.startswith("sm-") and len(secret) > 40


async def test_cache_authenticates_and_sees_revocations(store: KeyStore) -> None:
    key, secret = make_key("alice")
    await store.add(key)
    cache = KeyCache(store, ttl_s=0)  # no caching: every lookup reloads
    assert (await authenticate(cache, {"authorization": f"Bearer {secret}"})).id == key.id
    assert (await authenticate(cache, {"x-api-key": secret})).id == key.id
    for headers in ({}, {"authorization": "Bearer sm-wrong"}, {"authorization": f"Basic {secret}"}):
        with pytest.raises(AuthenticationFailed):
            await authenticate(cache, headers)
    await store.revoke(key.id)
    with pytest.raises(AuthenticationFailed) as err:
        await authenticate(cache, {"authorization": f"Bearer {secret}"})
    assert err.value.code == "invalid_api_key" and secret not in err.value.message


def test_presented_secret() -> None:
    assert presented_secret({"authorization": "Bearer  sm-x "}) == "sm-x"
    assert presented_secret({"authorization": "Bearer"}) is None
    assert presented_secret({}) is None
