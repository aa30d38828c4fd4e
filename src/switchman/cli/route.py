"""``switchman route``: show the decision for one prompt; ``switchman routes fit``: tune route thresholds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from switchman.catalog import Catalog, NoStats
from switchman.config.load import load_config
from switchman.config.model import Config
from switchman.errors import SwitchmanError
from switchman.routing.embed import get_embedder
from switchman.routing.explain import explain_json, explain_text, short_route
from switchman.routing.policy import build_policies, explicit_decision
from switchman.routing.request import RequestInfo
from switchman.routing.semantic import SemanticIndex, fit_thresholds
from switchman.wire import parse_chat_request


def _config(path: Path | None) -> Config:
    """The config file, or the built-in starter config when none is given."""
    try:
        return load_config(path)
    except SwitchmanError as exc:
        raise click.ClickException(str(exc)) from exc


def _split(requested: str, routers: Any) -> tuple[str, float | None]:
    if "@" in requested:
        name, _, raw = requested.rpartition("@")
        if name in routers:
            try:
                return name, float(raw)
            except ValueError:
                pass
    return requested, None


@click.command("route")
@click.argument("prompt")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default="switchman/auto", show_default=True, help="Router (or model) to ask for.")
@click.option("--image", "images", multiple=True, help="Attach an image URL (repeatable).")
@click.option("--system", default=None, help="A system message before the prompt.")
@click.option("--max-tokens", type=int, default=None)
@click.option("--tier", default=None, help="Declared tier, as x-switchman-tier.")
@click.option("--latency", type=click.Choice(["interactive", "batch"]), default=None)
@click.option("--task", default=None, help="Declared task, as x-switchman-task.")
@click.option("--explain", is_flag=True, help="Show every candidate and why.")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def route(
    prompt: str,
    config_path: Path | None,
    model: str,
    images: tuple[str, ...],
    system: str | None,
    max_tokens: int | None,
    tier: str | None,
    latency: str | None,
    task: str | None,
    explain: bool,
    as_json: bool,
) -> None:
    """Show which model PROMPT would be routed to (use "-" to read the prompt from stdin)."""
    if prompt == "-":
        prompt = sys.stdin.read()
    try:
        config = _config(config_path)
        policies = build_policies(config)
        catalog = Catalog.from_config(config)
        content: Any = prompt
        if images:
            content = [{"type": "text", "text": prompt}] + [
                {"type": "image_url", "image_url": {"url": u}} for u in images
            ]
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": content}
        ]
        body: dict[str, Any] = {"model": model, "messages": messages}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        raw = orjson.dumps(body)
        req = parse_chat_request(raw, max_bytes=len(raw) + 1)
        name, threshold = _split(model, policies)
        info = RequestInfo(
            request=req,
            requested_model=name,
            threshold=threshold,
            tier=tier,
            latency=latency,  # type: ignore[arg-type]
            task=task,
        )
        if name in policies:
            decision = policies[name].decide(info, catalog, NoStats())
        elif name in catalog:
            decision = explicit_decision(info, catalog)
        else:
            raise click.ClickException(f"unknown router or model '{name}' (routers: {', '.join(policies)})")
    except SwitchmanError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps(explain_json(decision), option=orjson.OPT_INDENT_2).decode())
    elif explain:
        click.echo(explain_text(decision))
    else:
        click.echo(f"{decision.chain[0].model}\t{short_route(decision)}")


@click.group("routes")
def routes_group() -> None:
    """Semantic routes."""


@routes_group.command("fit")
@click.argument("examples", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--router", default="switchman/auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def fit(examples: Path, config_path: Path | None, router: str, as_json: bool) -> None:
    """Tune the router's semantic-route thresholds from labelled EXAMPLES (JSONL lines
    ``{"text": "...", "route": "NAME" | null}``); prints the thresholds to put in the config."""
    config = _config(config_path)
    rc = config.routers.get(router)
    if rc is None or not rc.routes:
        raise click.ClickException(f"router '{router}' has no semantic routes")
    texts: list[str] = []
    labels: list[str | None] = []
    for n, line in enumerate(examples.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            text = row.get("text", row.get("prompt"))
            label = row.get("route")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise click.ClickException(f"{examples}:{n}: not a JSON object") from exc
        if not isinstance(text, str) or not (label is None or isinstance(label, str)):
            raise click.ClickException(f'{examples}:{n}: needs "text" (string) and "route" (string or null)')
        texts.append(text)
        labels.append(label)
    try:
        embedder = get_embedder(rc.embedder)
    except SwitchmanError as exc:
        raise click.ClickException(str(exc)) from exc
    index = SemanticIndex(rc.routes, embedder)
    fits = fit_thresholds(index, embedder.embed(texts), labels)
    if as_json:
        rows = [
            {
                "route": f.route,
                "threshold": f.threshold,
                "f1": f.f1,
                "precision": f.precision,
                "recall": f.recall,
                "positives": f.positives,
            }
            for f in fits
        ]
        click.echo(orjson.dumps({"router": router, "embedder": embedder.model_id, "routes": rows}).decode())
        return
    click.echo(f"# {len(texts)} examples, embedder {embedder.model_id}")
    click.echo(f"{'route':<24} {'old':>6} {'new':>6} {'f1':>5} {'prec':>5} {'recall':>6} {'n':>4}")
    current = {r.name: r.threshold for r in rc.routes}
    for f in fits:
        click.echo(
            f"{f.route:<24} {current[f.route]:>6.3f} {f.threshold:>6.3f} {f.f1:>5.2f} "
            f"{f.precision:>5.2f} {f.recall:>6.2f} {f.positives:>4}"
        )
    click.echo("\n# set in the config under routers." + router + ".routes:")
    for f in fits:
        click.echo(f"#   - name: {f.route}\n#     threshold: {f.threshold}")
