"""`switchman config check FILE`."""

from __future__ import annotations

import click

from switchman.config.load import load_config
from switchman.errors import ConfigError


@click.group("config")
def config_group() -> None:
    """Inspect and validate configuration files."""


@config_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def check(path: str) -> None:
    """Validate a config file; exits 1 with the offending keys when it is invalid."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        click.echo(f"invalid: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"ok: {len(config.providers)} providers, {len(config.models)} models, {len(config.routers)} routers"
    )
