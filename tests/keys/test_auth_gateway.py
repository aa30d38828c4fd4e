"""Virtual keys against a real `switchman serve` (auth on) and `switchman sim`, with the OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from helpers import Proc, gateway_config, start_gateway
from switchman.config.limits import KeyLimits
from switchman.keys import SqliteKeyStore, make_key

ADMIN = "admin-secret-for-tests-0001"
MSG = [{"role": "user", "content": "hello there"}]

TIERED = """routers:
  tiered:
    policy: cheapest
    models: [tiny, big]
    embedder: hashing
    rules:
      - name: premium-to-big
        when: {tier: [premium]}
        then: {model: big}
"""


def _config(sim_url: str, keys_db: Path) -> str:
    text = gateway_config(sim_url).replace("routers:\n", TIERED, 1)
    return (
        text
        + f"""
auth:
  enabled: true
  admin_key: ${{ADMIN_KEY}}
  keys_path: {keys_db}
  cache_ttl_s: 0.2
"""
    )


class Keys:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.secrets: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def add(self, name: str, **kw: object) -> None:
        limits = KeyLimits.model_validate(kw.pop("limits", {}))
        key, secret = make_key(name, limits=limits, **kw)  # type: ignore[arg-type]

        async def put() -> None:
            store = SqliteKeyStore(self.db)
            await store.add(key)
            await store.aclose()

        asyncio.run(put())
        self.secrets[name], self.ids[name] = secret, key.id


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, sim: Proc) -> Iterator[tuple[Proc, Keys, Path]]:
    tmp = tmp_path_factory.mktemp("keys")
    keys = Keys(tmp / "keys.db")
    keys.add("plain")
    keys.add("premium", tier="premium")
    keys.add("narrow", models=["tiny"], routers=["switchman/auto"])
    keys.add("doomed")
    keys.add("budget", limits={"daily_usd": 0.0004})
    keys.add("slow", limits={"rpm": 2})
    cfg_text = _config(sim.url, keys.db)
    gw = start_gateway(tmp, cfg_text, env={"SIM_API_KEY": "sk-sim", "ADMIN_KEY": ADMIN})
    cfg = tmp / f"gateway-{gw.port}.yaml"
    yield gw, keys, cfg
    gw.stop()


def client(gw: Proc, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=secret, max_retries=0)


def test_missing_or_unknown_key_is_401(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, _, _ = keyed
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "tiny", "messages": MSG})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.json()["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.AuthenticationError) as err:
        client(gw, "sm-not-a-real-key").chat.completions.create(model="tiny", messages=MSG)  # type: ignore[arg-type]
    assert err.value.status_code == 401 and "sm-not-a-real-key" not in str(err.value)


def test_valid_key_is_served_and_readyz_says_auth_is_on(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, _ = keyed
    resp = client(gw, keys.secrets["plain"]).chat.completions.create(model="tiny", messages=MSG)  # type: ignore[arg-type]
    assert resp.choices[0].message.content
    ready = httpx.get(gw.url + "/readyz").json()
    assert ready["limits"]["auth"] is True and ready["limits"]["keys"] >= 6


def test_tier_comes_from_the_key(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, _ = keyed
    premium = client(gw, keys.secrets["premium"]).chat.completions.with_raw_response.create(
        model="tiered",
        messages=MSG,  # type: ignore[arg-type]
    )
    assert premium.headers["x-switchman-model"] == "big"
    # a caller cannot declare itself premium when keys are on: the key's tier wins
    plain = client(gw, keys.secrets["plain"]).chat.completions.with_raw_response.create(
        model="tiered",
        messages=MSG,  # type: ignore[arg-type]
        extra_headers={"x-switchman-tier": "premium"},
    )
    assert plain.headers["x-switchman-model"] == "tiny"


def test_disallowed_model_or_router_is_403(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, _ = keyed
    narrow = client(gw, keys.secrets["narrow"])
    assert narrow.chat.completions.create(model="tiny", messages=MSG).choices  # type: ignore[arg-type]
    for model in ("big", "switchman/quality"):
        with pytest.raises(openai.PermissionDeniedError) as err:
            narrow.chat.completions.create(model=model, messages=MSG)  # type: ignore[arg-type]
        assert err.value.status_code == 403
    # an allowed router only picks allowed models
    r = narrow.chat.completions.with_raw_response.create(model="switchman/auto", messages=MSG)  # type: ignore[arg-type]
    assert r.headers["x-switchman-model"] == "tiny"


def test_exhausted_budget_is_429_with_retry_after(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, _ = keyed
    headers = {"authorization": f"Bearer {keys.secrets['budget']}"}
    body = {"model": "big", "messages": MSG, "max_tokens": 10}
    statuses = []
    for _ in range(20):
        r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers)
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    err = r.json()["error"]
    assert err["code"] == "budget_exceeded" and err["type"] == "rate_limit_error"
    assert 1 <= int(r.headers["retry-after"]) <= 86400
    # the SDK sees a RateLimitError too
    with pytest.raises(openai.RateLimitError):
        client(gw, keys.secrets["budget"]).chat.completions.create(model="big", messages=MSG, max_tokens=10)  # type: ignore[arg-type]


def test_key_rpm_is_429_with_retry_after(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, _ = keyed
    headers = {"authorization": f"Bearer {keys.secrets['slow']}"}
    body = {"model": "tiny", "messages": MSG}
    codes = [
        httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers).status_code for _ in range(2)
    ]
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers)
    # sliding window: a minute boundary between the calls may free room for one more
    assert codes == [200, 200] and r.status_code in (429, 200)
    if r.status_code == 429:
        assert r.json()["error"]["code"] == "rate_limit_exceeded" and int(r.headers["retry-after"]) >= 1


def test_revoked_key_is_401_within_the_cache_ttl(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, keys, cfg = keyed
    c = client(gw, keys.secrets["doomed"])
    assert c.chat.completions.create(model="tiny", messages=MSG).choices  # type: ignore[arg-type]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchman.cli.main",
            "keys",
            "revoke",
            keys.ids["doomed"],
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={"SIM_API_KEY": "x", "ADMIN_KEY": ADMIN, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 5
    while True:
        try:
            c.chat.completions.create(model="tiny", messages=MSG)  # type: ignore[arg-type]
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "revoked key still accepted"
        time.sleep(0.1)


def test_cli_create_and_list(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, _, cfg = keyed
    env = {"SIM_API_KEY": "x", "ADMIN_KEY": ADMIN, "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "switchman.cli.main", "keys"]
    made = subprocess.run(
        [*cmd, "create", "from-cli", "--config", str(cfg), "--tier", "premium", "--rpm", "50", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["secret"].startswith("sm-") and key["rpm"] == 50 and "hash" not in key
    listed = subprocess.run(
        [*cmd, "list", "--config", str(cfg)], capture_output=True, text=True, timeout=30, env=env
    )
    assert "from-cli" in listed.stdout and key["secret"] not in listed.stdout
    # a key created a moment ago works at once (an unknown secret triggers a reload)
    r = client(gw, key["secret"]).chat.completions.with_raw_response.create(model="tiered", messages=MSG)  # type: ignore[arg-type]
    assert r.headers["x-switchman-model"] == "big"


def test_admin_api(keyed: tuple[Proc, Keys, Path]) -> None:
    gw, _, _ = keyed
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert httpx.get(gw.url + "/admin/keys").status_code == 401
    assert httpx.get(gw.url + "/admin/keys", headers={"authorization": "Bearer nope"}).status_code == 401
    made = httpx.post(gw.url + "/admin/keys", json={"name": "via-api", "models": ["tiny"]}, headers=admin)
    assert made.status_code == 201
    secret, kid = made.json()["secret"], made.json()["id"]
    c = client(gw, secret)
    assert c.chat.completions.create(model="tiny", messages=MSG).choices  # type: ignore[arg-type]
    listed = httpx.get(gw.url + "/admin/keys", headers=admin).json()["data"]
    assert any(k["id"] == kid and "hash" not in k for k in listed)
    assert httpx.delete(gw.url + f"/admin/keys/{kid}", headers=admin).json()["revoked"] is not None
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="tiny", messages=MSG)  # type: ignore[arg-type]
    assert httpx.post(gw.url + "/admin/keys", json={"nom": "x"}, headers=admin).status_code == 400
    assert ADMIN not in gw.log_text() and secret not in gw.log_text()
