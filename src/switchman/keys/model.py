"""Virtual API keys: what a key may do, and how its secret is made and checked.

The secret (``sm-`` + 43 URL-safe characters, 256 random bits) is shown once at creation; only its
SHA-256 is stored. A fast hash is the right one here: the secret is random, so there is nothing to
brute-force that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from switchman.config.limits import KeyLimits

SECRET_PREFIX = "sm-"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    #: The secret's first characters, to recognise it in lists (``sm-Ab12…``).
    hint: str
    hash: str
    created: float
    tier: str | None = None
    #: Concrete models / routers this key may request (None = any).
    models: tuple[str, ...] | None = None
    routers: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    daily_usd: float | None = None
    monthly_usd: float | None = None
    revoked: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None

    def limits(self) -> KeyLimits:
        return KeyLimits(rpm=self.rpm, tpm=self.tpm, daily_usd=self.daily_usd, monthly_usd=self.monthly_usd)

    def revoke(self) -> ApiKey:
        return replace(self, revoked=time.time())

    def public(self) -> dict[str, Any]:
        """Everything but the hash (what lists and the admin API show)."""
        out = asdict(self)
        del out["hash"]
        for f in ("models", "routers"):
            out[f] = list(out[f]) if out[f] is not None else None
        return out

    def to_json(self) -> dict[str, Any]:
        out = self.public()
        out["hash"] = self.hash
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiKey:
        d = dict(data)
        for f in ("models", "routers"):
            d[f] = tuple(d[f]) if d.get(f) is not None else None
        return cls(**d)


def make_key(
    name: str,
    *,
    tier: str | None = None,
    models: list[str] | None = None,
    routers: list[str] | None = None,
    limits: KeyLimits | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret (the only time the secret exists outside the client)."""
    secret = new_secret()
    lim = limits or KeyLimits()
    key = ApiKey(
        id="key_" + secrets.token_hex(6),
        name=name,
        hint=secret[:7] + "…",
        hash=hash_secret(secret),
        created=time.time(),
        tier=tier,
        models=tuple(models) if models is not None else None,
        routers=tuple(routers) if routers is not None else None,
        rpm=lim.rpm,
        tpm=lim.tpm,
        daily_usd=lim.daily_usd,
        monthly_usd=lim.monthly_usd,
    )
    return key, secret
