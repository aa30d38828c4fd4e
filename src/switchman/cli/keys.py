"""`switchman keys create|list|revoke`: manage virtual API keys in the store the config names."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click

from switchman.config.limits import KeyLimits
from switchman.config.load import load_config
from switchman.errors import ConfigError
from switchman.keys import ApiKey, KeyStore, make_key, open_store

T = TypeVar("T")

_config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML config (its auth/state sections)."
)


def _with_store(config_path: str | None, fn: Callable[[KeyStore], Awaitable[T]]) -> T:
    try:
        config = load_config(config_path)
        store = open_store(config.auth, config.state)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> T:
        try:
            return await fn(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except Exception as exc:  # the CLI's outer boundary: Redis down, unwritable file, ...
        raise click.ClickException(f"the key store is unreachable: {type(exc).__name__}") from None


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


@click.group("keys")
def keys_group() -> None:
    """Create, list and revoke virtual API keys."""


@keys_group.command("create")
@click.argument("name")
@_config_option
@click.option("--tier", default=None, help="Tier the key's requests get (e.g. premium).")
@click.option("--models", default=None, help="Comma-separated models the key may use (default: any).")
@click.option("--routers", default=None, help="Comma-separated routers the key may use (default: any).")
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), default=None, help="Tokens per minute.")
@click.option(
    "--daily-usd", type=click.FloatRange(min=0, min_open=True), default=None, help="Budget per UTC day."
)
@click.option(
    "--monthly-usd", type=click.FloatRange(min=0, min_open=True), default=None, help="Budget per month."
)
@click.option("--json", "as_json", is_flag=True, help="Print the key (with its secret) as JSON.")
def create(
    name: str,
    config_path: str | None,
    tier: str | None,
    models: str | None,
    routers: str | None,
    rpm: int | None,
    tpm: int | None,
    daily_usd: float | None,
    monthly_usd: float | None,
    as_json: bool,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    limits = KeyLimits(rpm=rpm, tpm=tpm, daily_usd=daily_usd, monthly_usd=monthly_usd)
    key, secret = make_key(name, tier=tier, models=_csv(models), routers=_csv(routers), limits=limits)
    _with_store(config_path, lambda store: store.add(key))
    if as_json:
        click.echo(json.dumps({**key.public(), "secret": secret}))
        return
    click.echo(f"created {key.id} ({name})")
    click.echo(f"secret: {secret}")
    click.echo("store it now: it is not shown again (only its SHA-256 is kept)")


def _row(k: ApiKey) -> str:
    created = datetime.fromtimestamp(k.created, UTC).strftime("%Y-%m-%d")
    limits = ",".join(f"{f}={v}" for f, v in k.limits().model_dump().items() if v is not None) or "-"
    models = ",".join([*(k.models or ()), *(k.routers or ())]) if k.models or k.routers else "*"
    status = "active" if k.active else "revoked"
    tier = k.tier or "-"
    return f"{k.id:<16} {k.name[:20]:<20} {k.hint:<11} {tier:<9} {status:<8} {created}  {models}  {limits}"


@keys_group.command("list")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
def list_keys(config_path: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    keys = _with_store(config_path, lambda store: store.all())
    if as_json:
        for k in keys:
            click.echo(json.dumps(k.public()))
        return
    click.echo(f"{'ID':<16} {'NAME':<20} {'KEY':<11} {'TIER':<9} {'STATUS':<8} CREATED     MODELS  LIMITS")
    for k in keys:
        click.echo(_row(k))


@keys_group.command("revoke")
@click.argument("key_id")
@_config_option
def revoke(key_id: str, config_path: str | None) -> None:
    """Revoke a key (gateways stop accepting it within auth.cache_ttl_s)."""
    key = _with_store(config_path, lambda store: store.revoke(key_id))
    if key is None:
        raise click.ClickException(f"no key '{key_id}'")
    click.echo(f"revoked {key.id} ({key.name})")
