"""Time the gateway spends in the cyclic garbage collector per request (``gc.callbacks``).

    python bench/gc_cost.py [--config bench/configs/fixed.yaml] [--n 10000] [--src SRC_DIR] [--model M]

Starts ``switchman sim`` and ``switchman serve`` (with ``PYTHONPATH=SRC_DIR`` when given, e.g. a worktree of
another commit), sends ``--n`` requests at concurrency 16 with ``bench/loadgen.py`` and prints the
collections and their total time from the moment the gateway was listening (start-up collections excluded).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instructions import free_port, load, wait

ROOT = Path(__file__).resolve().parents[1]


def inner() -> None:
    """Run ``switchman serve`` with a GC timer; report at exit (only after ``SWITCHMAN_GC_FROM`` seconds)."""
    import atexit
    import gc

    start_after = time.time() + float(os.environ.get("SWITCHMAN_GC_FROM", "3"))
    stats = {"n": 0, "s": 0.0, "t0": 0.0, "gen": [0, 0, 0]}

    def callback(phase: str, info: dict[str, int]) -> None:
        if time.time() < start_after:
            return
        if phase == "start":
            stats["t0"] = time.perf_counter()
        else:
            stats["s"] += time.perf_counter() - stats["t0"]  # type: ignore[operator]
            stats["n"] += 1  # type: ignore[operator]
            stats["gen"][info["generation"]] += 1  # type: ignore[index]

    gc.callbacks.append(callback)
    atexit.register(
        lambda: print(f"GC {stats['n']} {stats['s']} {stats['gen']}", file=sys.stderr, flush=True)
    )
    from switchman.cli.main import main

    sys.argv = ["switchman", *sys.argv[2:]]
    main()


def outer() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "bench" / "configs" / "fixed.yaml"))
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--src", default=None)
    ap.add_argument("--model", default="switchman/fixed", help="model or router the requests name")
    args = ap.parse_args()
    sim_port, port = free_port(), free_port()
    env = dict(os.environ, SWITCHMAN_BENCH_UPSTREAM=f"http://127.0.0.1:{sim_port}/v1")
    env["SWITCHMAN_BENCH_DATA_DIR"] = f"/tmp/switchman-gc-cost-{os.getpid()}"
    if args.src:
        env["PYTHONPATH"] = args.src
    sim_cmd = [sys.executable, "-m", "switchman.cli.main", "sim", "--port", str(sim_port)]
    sim = subprocess.Popen(sim_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve_cmd = [sys.executable, __file__, "--inner", "serve", "--config", args.config, "--port", str(port)]
    log = tempfile.NamedTemporaryFile(prefix="switchman-gc-cost-", suffix=".log", delete=False)  # noqa: SIM115
    gw = subprocess.Popen(serve_cmd, env=env, stderr=log)
    try:
        wait(sim_port)
        wait(port)
        time.sleep(3)
        ok = load(port, args.n, 16, False, args.model)
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=30)
        log.close()
        lines = Path(log.name).read_text().splitlines()
        Path(log.name).unlink()
        _, n, secs, gens = next(x for x in lines if x.startswith("GC ")).split(" ", 3)
        per = float(secs) * 1e6 / ok
        print(f"{ok} requests: {n} collections {gens}, {float(secs) * 1e3:.1f} ms, {per:.1f} µs per request")
    finally:
        if gw.poll() is None:
            gw.kill()
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner()
    else:
        outer()
