"""``switchman label``: build outcome data from a prompt log with the configured models and a scorer."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from switchman.errors import SwitchmanError

__all__ = ["label"]


class _Fail(click.ClickException):
    pass


class _CapReached(click.ClickException):
    exit_code = 3


@click.command("label")
@click.argument("prompts", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--models", required=True, help="Comma-separated catalog models to label (pairwise: first = anchor)."
)
@click.option("--judge", default=None, help="Catalog model that judges the answers.")
@click.option("--reference-field", default=None, help="Field of the prompt log holding the reference answer.")
@click.option(
    "--mode",
    type=click.Choice(["absolute", "pairwise"]),
    default=None,
    help="Judge mode (default: absolute with --judge; without --judge answers are matched to the reference).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), help="YAML config.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 512))
@click.option("--max-cost-usd", type=click.FloatRange(min=0), default=None, help="Hard cap on total spend.")
@click.option("--max-tokens", default=1024, show_default=True, type=click.IntRange(1), help="Per answer.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds per upstream call.")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 10))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def label(
    prompts: Path,
    models: str,
    judge: str | None,
    reference_field: str | None,
    mode: str | None,
    config_path: Path | None,
    concurrency: int,
    max_cost_usd: float | None,
    max_tokens: int,
    timeout: float,
    retries: int,
    output: Path,
    quiet: bool,
) -> None:
    """Ask every model of --models each prompt of PROMPTS (JSONL) and score the answers into OUTPUT.

    Resumable: prompts already complete in OUTPUT are skipped and partial ones finished. Exit code 3 when
    --max-cost-usd stopped the run (rerun with a larger cap to go on).
    """
    from switchman.catalog import Catalog
    from switchman.config.load import load_config
    from switchman.learning.label import Labeller, LabelResult, LabelSettings
    from switchman.learning.labelfile import read_prompts
    from switchman.providers import build_providers

    if judge is None and mode is not None:
        raise _Fail(f"--mode {mode} needs --judge MODEL")
    if judge is None and reference_field is None:
        raise _Fail("give --reference-field FIELD (reference matching) or --judge MODEL (LLM judge)")
    settings = LabelSettings(
        models=tuple(m.strip() for m in models.split(",") if m.strip()),
        mode="reference" if judge is None else "pairwise" if mode == "pairwise" else "absolute",
        judge=judge,
        concurrency=concurrency,
        max_cost_usd=max_cost_usd,
        max_tokens=max_tokens,
        timeout=timeout,
        retries=retries,
    )
    try:
        config = load_config(config_path)
        items = read_prompts(prompts, reference_field)
        catalog = Catalog.from_config(config)
        providers = build_providers(config)
        labeller = Labeller(settings, catalog, providers)
    except SwitchmanError as exc:
        raise _Fail(str(exc)) from exc

    async def run() -> LabelResult:
        try:
            if quiet:
                return await labeller.run(items, output)
            with click.progressbar(length=len(items), label="labelling", file=sys.stderr) as bar:
                return await labeller.run(items, output, progress=bar.update)
        finally:
            for p in providers.values():
                await p.aclose()

    res = asyncio.run(run())
    click.echo(
        f"{output}: {res.complete}/{res.total} prompts complete ({res.skipped} already done, "
        f"{res.processed} written now, {res.left} left); {res.calls} calls ({res.failed_calls} failed); "
        f"spent ${res.spent_usd:.6f} (judge ${res.judge_usd:.6f})",
        err=True,
    )
    if res.stopped is not None:
        raise _CapReached(f"stopped: {res.stopped}; rerun with a larger cap to resume")
