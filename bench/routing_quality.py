"""Routing-quality benchmark: switchman's learned routers on the public outcome datasets.

    .venv/bin/python bench/routing_quality.py [--seeds 3] [--embedders hashing,wordllama,minilm] [--json OUT]

* MMLU (RouteLLM's GPT-4 / Mixtral data), 5-fold in-domain: APGR, CPT(50 %), CPT(80 %), random, oracle.
* LLMRouter 9 models, 5-fold: AIQ vs the Zero router; quality at <= 10/25/50 % of the best model's cost.
* RouterArena 2 models with real token costs, 5-fold: the curve and where it beats both single models.
* Ablation embedder x learner, with decision latency (embed one prompt + predict) beside quality.

Every number is a mean over ``--seeds`` different fold shuffles (never one split). Embeddings are cached
in ``.switchman/bench-cache/`` keyed by dataset fingerprint and embedder. BLAS is pinned to one thread
(single-request latency is what the gateway sees; set OPENBLAS_NUM_THREADS to override).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from switchman.learning.evaluate import kfold_indices, routellm_metrics, routerbench_metrics
from switchman.learning.importers import import_dataset
from switchman.learning.outcomes import OutcomeMatrix, estimate_tokens, to_matrix
from switchman.learning.train import PAIRS, TrainConfig, embed_texts, train_router
from switchman.routing.embed import embed_one, get_embedder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
CACHE = ROOT / ".switchman" / "bench-cache"
DATASETS = {
    "mmlu": ("routellm", "routellm-mmlu"),
    "llmrouter": ("llmrouter", "llmrouter-9models"),
    "routerarena": ("routerarena", "routerarena-2models"),
}
BASE_LEARNERS = ("knn", "linear", "proj")
LEARNERS = (*BASE_LEARNERS, *PAIRS, "auto")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def embeddings(name: str, data: OutcomeMatrix, embedder: str) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    # v2: texts cut as the gateway cuts them (routing.analyze.embed_text)
    path = CACHE / f"{name}-{data.fingerprint.split(':')[-1][:16]}-{embedder}-v2.npy"
    if path.exists():
        return np.load(path)
    t = time.perf_counter()
    emb = embed_texts(get_embedder(embedder), data.texts)
    np.save(path, emb)
    log(f"  embedded {name} with {embedder} in {time.perf_counter() - t:.0f}s")
    return emb


def oof_predictions(
    data: OutcomeMatrix, emb: np.ndarray, seed: int, with_auto: bool, chosen: dict[str, int]
) -> dict[str, np.ndarray]:
    """Out-of-fold predictions of every learner (the pairs are the means of their two members)."""
    tokens = [float(estimate_tokens(t)) for t in data.texts]
    out = {learner: np.full(data.scores.shape, np.nan) for learner in BASE_LEARNERS}
    for train, test in kfold_indices(len(data), 5, seed=seed):
        for learner in out:
            art = train_router(data.subset(train), emb[train], "bench", TrainConfig(learner=learner))
            out[learner][test] = art.predictor.predict_batch(emb[test], [tokens[i] for i in test])
    for pair, (a, b) in PAIRS.items():
        out[pair] = (out[a] + out[b]) / 2
    if with_auto:  # the default learner: picks one of the others by inner 5-fold CV on each training split
        out["auto"] = np.full(data.scores.shape, np.nan)
        for train, test in kfold_indices(len(data), 5, seed=seed):
            art = train_router(data.subset(train), emb[train], "bench", TrainConfig(learner="auto"))
            out["auto"][test] = art.predictor.predict_batch(emb[test], [tokens[i] for i in test])
            chosen[art.info["selection"]["chosen"]] = chosen.get(art.info["selection"]["chosen"], 0) + 1
    return out


def two_model(data: OutcomeMatrix, pred: np.ndarray) -> dict[str, Any]:
    means = data.scores.mean(axis=0)
    s, w = int(np.argmax(means)), int(np.argmin(means))
    rep = routellm_metrics(pred[:, s] - pred[:, w], data.scores[:, s], data.scores[:, w])
    return {
        "apgr": rep.apgr,
        "cpt50": rep.cpt["50%"],
        "cpt80": rep.cpt["80%"],
        "random": rep.random_apgr,
        "oracle": rep.oracle_apgr,
    }


def n_model(data: OutcomeMatrix, pred: np.ndarray) -> dict[str, Any]:
    rep = routerbench_metrics(pred, data.scores, data.costs, data.models)
    best_cost, best_q = rep.singles[rep.best_single]
    beats = [(c, q) for c, q in rep.points if q > max(q2 for _, q2 in rep.singles.values())]
    row: dict[str, Any] = {
        "aiq": rep.aiq,
        "zero_aiq": rep.zero_aiq,
        "best_single": rep.best_single,
        "best_single_quality": best_q,
        "oracle_quality": rep.oracle[1],
        "beats_all_singles": bool(beats),
        "beats_min_cost_vs_best": (min(c for c, _ in beats) / best_cost) if beats else None,
        "beats_max_quality": max(q for _, q in beats) if beats else None,
    }
    for frac, v in rep.quality_at_budget.items():
        row[f"q@{frac}"] = v["router"]
    return row


def mean_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        if all(isinstance(v, float | int) and not isinstance(v, bool) for v in vals):
            arr = np.array(vals, dtype=float)
            out[key] = float(np.nanmean(arr)) if np.isfinite(arr).any() else None
            out[key + "_sd"] = float(np.nanstd(arr)) if np.isfinite(arr).any() else None
        else:
            out[key] = vals[0] if all(v == vals[0] for v in vals) else vals
    return out


def latency(
    data: OutcomeMatrix, emb: np.ndarray, embedder: str, probes: list[str]
) -> dict[str, dict[str, float]]:
    """Decision latency per learner: embed one prompt + predict every model, router trained on ``data``."""
    enc = get_embedder(embedder)
    out = {}
    for learner in LEARNERS[:-1]:
        pred = train_router(data, emb, enc.model_id, TrainConfig(learner=learner)).predictor
        times = []
        for text in probes:
            t = time.perf_counter()
            pred.predict(embed_one(enc, text), {"prompt_tokens": float(estimate_tokens(text))})
            times.append((time.perf_counter() - t) * 1000)
        out[learner] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--embedders", default="hashing,wordllama,minilm")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--probes", type=int, default=300, help="prompts timed for decision latency")
    ap.add_argument("--json", type=Path, help="write all results here")
    ap.add_argument("--no-auto", action="store_true", help="skip the (slower) auto learner")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no data at {DATA}")
    results: dict[str, Any] = {"seeds": args.seeds, "datasets": {}, "latency": {}}
    loaded = {}
    for name in args.datasets.split(","):
        kind, folder = DATASETS[name]
        loaded[name] = to_matrix(list(import_dataset(kind, DATA / folder)))
    probes = list(loaded.get("llmrouter", next(iter(loaded.values()))).texts[: args.probes])
    for embedder in args.embedders.split(","):
        for name, data in loaded.items():
            log(f"{name} x {embedder}")
            emb = embeddings(name, data, embedder)
            per_learner: dict[str, list[dict[str, Any]]] = {}
            chosen: dict[str, int] = {}
            for seed in range(args.seeds):
                t = time.perf_counter()
                preds = oof_predictions(data, emb, seed, not args.no_auto, chosen)
                for learner, pred in preds.items():
                    row: dict[str, Any] = {}
                    if len(data.models) == 2:
                        row.update(two_model(data, pred))
                    if data.has_costs:
                        row.update(n_model(data, pred))
                    per_learner.setdefault(learner, []).append(row)
                log(f"  seed {seed}: {time.perf_counter() - t:.0f}s")
            for learner, rows in per_learner.items():
                summary = mean_rows(rows)
                results["datasets"].setdefault(name, {}).setdefault(embedder, {})[learner] = summary
                shown = {
                    k: round(v, 4)
                    for k, v in summary.items()
                    if isinstance(v, float) and not k.endswith("_sd")
                }
                log(f"  {learner}: {shown}")
            results["datasets"][name][embedder]["auto_chosen"] = chosen
            log(f"  auto chose: {chosen}")
        if "mmlu" in loaded:
            emb = embeddings("mmlu", loaded["mmlu"], embedder)
            results["latency"][embedder] = latency(loaded["mmlu"], emb, embedder, probes)
            log(f"  latency {embedder}: {results['latency'][embedder]}")
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    if args.json:
        args.json.write_bytes(text)
    print(text.decode())


if __name__ == "__main__":
    main()
