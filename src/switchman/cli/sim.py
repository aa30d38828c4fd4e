"""`switchman sim`: run the simulated OpenAI-compatible upstream on loopback."""

from __future__ import annotations

import click

from switchman.config.load import load_sim_config
from switchman.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML: models: {name: behaviour}"
)
def sim(host: str, port: int, config_path: str | None) -> None:
    """Serve simulated models (deterministic answers, real token counts, configurable faults)."""
    from aiohttp import web

    from switchman.sim.server import create_sim_app

    try:
        config = load_sim_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    web.run_app(
        create_sim_app(config), host=host, port=port, print=None, access_log=None, shutdown_timeout=1.0
    )
