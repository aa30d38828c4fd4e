"""`switchman report`: what was spent and saved, from the ledger; `switchman db`: ledger migrations."""

from __future__ import annotations

import csv
import io
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from switchman.errors import ConfigError

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> float:
    """``24h``, ``30m``, ``7d``, ``2w`` (before now) or an ISO date/time (UTC unless it says otherwise)."""
    m = _SPAN.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}': use 24h, 30m, 7d, 2w or an ISO date") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _ledger_engine(config_path: str | None, url: str | None) -> Any:
    from pydantic import SecretStr

    from switchman.config.load import load_config
    from switchman.ledger import db

    try:
        cfg = load_config(config_path).ledger
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if url:
        cfg = cfg.model_copy(update={"url": SecretStr(url)})
    try:
        return db.make_engine(db.ledger_url(cfg), busy_timeout_s=cfg.timeout_s)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


_config_opt = click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config.")
_url_opt = click.option("--url", default=None, help="Ledger database URL (default: from the config).")


@click.command()
@_config_opt
@_url_opt
@click.option("--since", default="24h", show_default=True, help="Window start: 24h, 7d, or an ISO date.")
@click.option("--until", "until_", default=None, help="Window end (default: now).")
@click.option(
    "--by", type=click.Choice(["model", "router", "key", "day"]), default="model", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per group (and a total row).")
def report(
    config_path: str | None,
    url: str | None,
    since: str,
    until_: str | None,
    by: str,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Requests, tokens, cost, baseline cost and savings, routing mix, error and fallback rates, latency."""
    from sqlalchemy.exc import SQLAlchemyError

    from switchman.cli.report_format import render_csv, render_text
    from switchman.ledger import db
    from switchman.ledger.queries import summarize

    now = time.time()
    start = parse_since(since, now)
    end = parse_since(until_, now) if until_ else now + 1
    engine = _ledger_engine(config_path, url)
    try:
        if db.current_revision(engine) is None:
            raise click.ClickException(
                f"no ledger at {engine.url.render_as_string(hide_password=True)}: serve some traffic first "
                "(or run `switchman db upgrade`)"
            )
        rep = summarize(engine, start, end, by)  # type: ignore[arg-type]
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot read the ledger: {type(exc).__name__}: {exc.args[0]}") from None
    finally:
        engine.dispose()
    if as_json:
        sys.stdout.write(orjson.dumps(rep.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif as_csv:
        buf = io.StringIO()
        render_csv(rep, csv.writer(buf))
        sys.stdout.write(buf.getvalue())
    else:
        click.echo(render_text(rep))


@click.group("db")
def db_group() -> None:
    """The ledger database: migrations."""


@db_group.command("upgrade")
@_config_opt
@_url_opt
@click.option("--revision", default="head", show_default=True)
def upgrade(config_path: str | None, url: str | None, revision: str) -> None:
    """Create or migrate the ledger tables."""
    from switchman.ledger import db

    engine = _ledger_engine(config_path, url)
    try:
        db.upgrade(engine, revision)
        click.echo(f"ledger at revision {db.current_revision(engine)} (head {db.head_revision()})")
    finally:
        engine.dispose()


@db_group.command("current")
@_config_opt
@_url_opt
def current(config_path: str | None, url: str | None) -> None:
    """Show the ledger's migration revision."""
    from switchman.ledger import db

    engine = _ledger_engine(config_path, url)
    try:
        click.echo(f"{db.current_revision(engine) or 'empty'} (head {db.head_revision()})")
    finally:
        engine.dispose()
