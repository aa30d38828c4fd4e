"""``switchman data import | train | score | eval | calibrate``: learn routers from outcome data."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt
import orjson

from switchman.errors import EmbedderUnavailable, SwitchmanError
from switchman.learning.calibrate import calibrate as calibrate_lambda
from switchman.learning.calibrate import cost_matrix, with_calibration
from switchman.learning.evaluate import cross_val_predict
from switchman.learning.importers import IMPORTERS, import_dataset
from switchman.learning.outcomes import (
    OutcomeMatrix,
    estimate_tokens,
    read_outcomes,
    to_matrix,
    write_outcomes,
)
from switchman.learning.report import evaluation_report, format_report
from switchman.learning.train import LEARNERS, TrainConfig, add_model, embed_texts, train_router
from switchman.routing.embed import available_embedders, check_embedder_name, get_embedder
from switchman.routing.learned import RouterArtifact, load_router, save_router

__all__ = ["calibrate", "data_group", "eval_cmd", "score", "train"]

F32 = npt.NDArray[np.float32]


class _Fail(click.ClickException):
    pass


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SwitchmanError as exc:
        raise _Fail(str(exc)) from exc


def _embedder_name(name: str) -> str:
    try:
        check_embedder_name(name)
    except EmbedderUnavailable as exc:
        raise click.BadParameter(str(exc)) from None
    return name


_embedder_option = click.option(
    "--embedder",
    default="wordllama",
    show_default=True,
    callback=lambda ctx, param, value: _embedder_name(value),
    help=f"{', '.join(available_embedders())}, or any MiniLM window minilm@N / minilm@H+T",
)


def _embed(embedder_name: str, texts: Sequence[str], quiet: bool) -> F32:
    embedder = _run(get_embedder, embedder_name)
    if quiet or len(texts) < 500:
        return embed_texts(embedder, texts)
    with click.progressbar(
        length=len(texts), label=f"embedding ({embedder.model_id})", file=sys.stderr
    ) as bar:
        return embed_texts(embedder, texts, progress=bar.update)


def _tokens(data: OutcomeMatrix) -> list[float]:
    return [float(estimate_tokens(t)) for t in data.texts]


def _prices(pairs: Sequence[str], config: Path | None) -> dict[str, tuple[float, float]]:
    prices: dict[str, tuple[float, float]] = {}
    if config is not None:
        from switchman.catalog import Catalog
        from switchman.config.load import load_config

        catalog = Catalog.from_config(_run(load_config, config))
        prices.update({name: (e.input_price, e.output_price) for name, e in catalog.items()})
    for pair in pairs:
        model, _, raw = pair.partition("=")
        try:
            pin, _, pout = raw.partition(",")
            prices[model] = (float(pin), float(pout or pin))
        except ValueError:
            raise _Fail(f"--price wants MODEL=IN,OUT (USD per 1M tokens), got {pair!r}") from None
    return prices


_price_opts = [
    click.option("--price", "prices", multiple=True, metavar="MODEL=IN,OUT", help="USD per 1M tokens."),
    click.option(
        "--config", "config", type=click.Path(path_type=Path), help="Take prices from this catalog."
    ),
    click.option(
        "--output-tokens", default=256, show_default=True, help="Assumed output tokens when unknown."
    ),
]


def _with_prices(fn: Any) -> Any:
    for opt in reversed(_price_opts):
        fn = opt(fn)
    return fn


def _matrix(path: Path, models: Sequence[str] | None = None) -> OutcomeMatrix:
    return to_matrix(_run(read_outcomes, path), models)


# --- data import -----------------------------------------------------------------------------------


@click.group("data")
def data_group() -> None:
    """Outcome datasets: import public formats into switchman's JSONL."""


@data_group.command("import")
@click.argument("kind", type=click.Choice(sorted(IMPORTERS)))
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output JSONL.")
def import_cmd(kind: str, src: Path, output: Path) -> None:
    """Import SRC (a file or the dataset's directory) in format KIND into OUTPUT."""
    n = _run(write_outcomes, output, _run(lambda: list(import_dataset(kind, src))))
    click.echo(f"wrote {n} prompts to {output}")


# --- train / score ---------------------------------------------------------------------------------


@click.command("train")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Router directory to write.")
@_embedder_option
@click.option("--learner", default="auto", show_default=True, type=click.Choice(LEARNERS))
@click.option("--models", default=None, help="Comma-separated models to learn (default: all in the data).")
@click.option("--k", default=100, show_default=True, help="kNN neighbours.")
@click.option("--l2", default=10.0, show_default=True, help="Ridge strength of the logistic heads.")
@click.option("--add-model", default=None, help="Add this model to the router at PATH without retraining.")
@click.option(
    "--data", "add_data", type=click.Path(exists=True, path_type=Path), help="Outcomes for --add-model."
)
@click.option("-q", "--quiet", is_flag=True)
def train(
    path: Path,
    output: Path | None,
    embedder: str,
    learner: str,
    models: str | None,
    k: int,
    l2: float,
    add_model: str | None,
    add_data: Path | None,
    quiet: bool,
) -> None:
    """Train a router on outcomes PATH (or, with --add-model, extend the router at PATH)."""
    if add_model is not None:
        _add_model(path, add_model, add_data, output, quiet)
        return
    if output is None:
        raise _Fail("train needs -o ROUTER_DIR")
    data = _matrix(path, models.split(",") if models else None)
    emb = _embed(embedder, data.texts, quiet)
    config = _run(TrainConfig, learner=learner, k=k, l2=l2)
    art = _run(train_router, data, emb, get_embedder(embedder).model_id, config)
    save_router(output, art)
    chosen = art.info.get("selection", {}).get("chosen")
    how = f"{chosen} (auto: {art.info['selection'].get('metric', '')})" if chosen else learner
    click.echo(f"trained {how} router for {len(art.models)} models on {len(data)} prompts -> {output}")


def _add_model(
    router_dir: Path, model: str, data_path: Path | None, output: Path | None, quiet: bool
) -> None:
    if data_path is None:
        raise _Fail("--add-model needs --data OUTCOMES.jsonl")
    art = _run(load_router, router_dir)
    data = _matrix(data_path)
    if model not in data.models:
        raise _Fail(f"{data_path} has no outcomes for {model!r}")
    emb = _embed(art.embedder_id, data.texts, quiet)
    grown = _run(add_model, art, model, emb, data.texts, data.scores[:, data.models.index(model)])
    save_router(output or router_dir, grown)
    click.echo(f"added {model} ({int(np.isfinite(data.scores[:, data.models.index(model)]).sum())} prompts)")


@click.command("score")
@click.argument("data_path", type=click.Path(exists=True, path_type=Path))
@click.option("--router", "router_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("-q", "--quiet", is_flag=True)
def score(data_path: Path, router_dir: Path, output: Path, quiet: bool) -> None:
    """Write one line per prompt: {"id": …, "predicted": {MODEL: quality}} (no outcomes are read)."""
    art = _run(load_router, router_dir)
    data = _matrix(data_path)
    pred = art.predictor.predict_batch(_embed(art.embedder_id, data.texts, quiet), _tokens(data))
    with output.open("wb") as fh:
        for i, rid in enumerate(data.ids):
            row = {m: round(float(v), 6) for m, v in zip(art.models, pred[i], strict=True)}
            fh.write(orjson.dumps({"id": rid, "predicted": row}) + b"\n")
    click.echo(f"scored {len(data)} prompts -> {output}")


# --- eval ------------------------------------------------------------------------------------------


@click.command("eval")
@click.argument("data_path", type=click.Path(exists=True, path_type=Path))
@click.option("--router", "router_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--cv", default=0, help="k-fold train+eval on DATA instead of a trained --router.")
@_embedder_option
@click.option("--learner", default="auto", show_default=True, type=click.Choice(LEARNERS))
@click.option("--seed", default=0, show_default=True, help="Fold shuffling seed (with --cv).")
@click.option("--strong", default=None, help="Strong model (two-model metrics).")
@click.option("--weak", default=None, help="Weak model (two-model metrics).")
@_with_prices
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON.")
@click.option(
    "--plot", type=click.Path(path_type=Path), help="Draw the curves to this PNG (needs matplotlib)."
)
@click.option("-q", "--quiet", is_flag=True)
def eval_cmd(
    data_path: Path,
    router_dir: Path | None,
    cv: int,
    embedder: str,
    learner: str,
    seed: int,
    strong: str | None,
    weak: str | None,
    prices: tuple[str, ...],
    config: Path | None,
    output_tokens: int,
    as_json: bool,
    plot: Path | None,
    quiet: bool,
) -> None:
    """Evaluate a router (or k-fold CV with --cv K) on outcomes DATA: APGR/CPT and AIQ with baselines."""
    if (router_dir is None) == (cv == 0):
        raise _Fail("give exactly one of --router DIR or --cv K")
    data = _matrix(data_path)
    if router_dir is not None:
        art = _run(load_router, router_dir)
        data = _matrix(data_path, [m for m in art.models if m in data.models])
        pred = art.predictor.predict_batch(_embed(art.embedder_id, data.texts, quiet), _tokens(data))
        pred = pred[:, [art.models.index(m) for m in data.models]]
    else:
        pred = _cross_validate(data, embedder, learner, cv, seed, quiet)
    price_map = _prices(prices, config)
    costs = data.costs if data.has_costs else _maybe_costs(data, price_map, output_tokens)
    report = _run(evaluation_report, data, pred, costs, strong=strong, weak=weak)
    click.echo(
        orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() if as_json else format_report(report)
    )
    if plot is not None:
        from switchman.learning.plot import plot_report

        _run(plot_report, report, plot)
        click.echo(f"plot -> {plot}", err=True)


def _maybe_costs(data: OutcomeMatrix, prices: dict[str, tuple[float, float]], output_tokens: int) -> Any:
    if not all(m in prices for m in data.models):
        return None
    return cost_matrix(data.texts, data.models, prices, output_tokens=output_tokens, known=data.costs)


def _cross_validate(data: OutcomeMatrix, embedder: str, learner: str, k: int, seed: int, quiet: bool) -> Any:
    emb = _embed(embedder, data.texts, quiet)
    tokens = _tokens(data)
    config = TrainConfig(learner=learner)

    def fit_predict(tr: Any, te: Any) -> Any:
        art = train_router(data.subset(tr), emb[tr], embedder, config)
        return art.predictor.predict_batch(emb[te], [tokens[i] for i in te])

    if quiet:
        return _run(cross_val_predict, len(data), fit_predict, k=k, seed=seed)
    with click.progressbar(length=k, label=f"{k}-fold cross-validation", file=sys.stderr) as bar:
        return _run(
            cross_val_predict, len(data), fit_predict, k=k, seed=seed, on_fold=lambda _: bar.update(1)
        )


# --- calibrate -------------------------------------------------------------------------------------


@click.command("calibrate")
@click.argument("router_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--strong-share", type=float, help="Share of requests for the most expensive model (0..1).")
@click.option("--quality", type=float, help="Fraction of the best model's quality to reach (0..1).")
@click.option("--budget-usd-per-1k", type=float, help="Expected spend per 1,000 requests.")
@_with_prices
@click.option("--json", "as_json", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
def calibrate(
    router_dir: Path,
    data_path: Path,
    strong_share: float | None,
    quality: float | None,
    budget_usd_per_1k: float | None,
    prices: tuple[str, ...],
    config: Path | None,
    output_tokens: int,
    as_json: bool,
    quiet: bool,
) -> None:
    """Set the router's operating point from traffic DATA (prompts suffice) and save it in ROUTER_DIR."""
    targets = {"strong_share": strong_share, "quality": quality, "budget_usd_per_1k": budget_usd_per_1k}
    given = {k: v for k, v in targets.items() if v is not None}
    if len(given) != 1:
        raise _Fail("give exactly one of --strong-share, --quality, --budget-usd-per-1k")
    ((kind, value),) = given.items()
    art: RouterArtifact = _run(load_router, router_dir)
    records = _run(read_outcomes, data_path)
    data = to_matrix(records, list(art.models))
    pred = art.predictor.predict_batch(_embed(art.embedder_id, data.texts, quiet), _tokens(data))
    costs = _run(
        cost_matrix,
        data.texts,
        art.models,
        _prices(prices, config),
        output_tokens=output_tokens,
        known=data.costs,
    )
    cal = _run(calibrate_lambda, pred, costs, kind, value, scores=data.scores)
    save_router(router_dir, with_calibration(art, cal))
    if as_json:
        click.echo(orjson.dumps(cal.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(
            f"{kind}={value}: lambda={cal.lam:.6g}  strong share {cal.strong_share:.1%}  "
            f"${cal.cost_per_1k:.4f}/1k requests  quality {cal.quality:.3f}  -> {router_dir}"
        )
        if cal.target is not None and cal.target_point is not None:
            share, cost, q = cal.target_point
            click.echo(
                f"  threshold policy: target={cal.target:.4f}  strong share {share:.1%}  "
                f"${cost:.4f}/1k requests  quality {q:.3f}"
            )
