"""The `switchman` command group; each command lives in its own module."""

from __future__ import annotations

import click

from switchman import __version__
from switchman.cli.config_cmd import config_group
from switchman.cli.keys import keys_group
from switchman.cli.label import label
from switchman.cli.learn import calibrate, data_group, eval_cmd, score, train
from switchman.cli.report import db_group, report
from switchman.cli.route import route, routes_group
from switchman.cli.serve import serve
from switchman.cli.sim import sim
from switchman.config.load import model_cache_dir
from switchman.routing.model_cache import set_model_cache_dir


@click.group()
@click.version_option(__version__, prog_name="switchman")
def cli() -> None:
    """switchman: an OpenAI-compatible gateway that routes each request to the cheapest good-enough model."""
    set_model_cache_dir(model_cache_dir())


cli.add_command(serve)
cli.add_command(sim)
cli.add_command(config_group)
cli.add_command(keys_group)
cli.add_command(report)
cli.add_command(db_group)
cli.add_command(route)
cli.add_command(routes_group)
for _learn_cmd in (data_group, train, score, eval_cmd, calibrate, label):
    cli.add_command(_learn_cmd)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
