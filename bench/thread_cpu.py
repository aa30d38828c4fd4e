"""CPU time per request of a gateway, per thread (user and system), with its context switches.

    python bench/thread_cpu.py CONFIG [--model switchman/auto] [--n 30000] [--conc 16] [--src SRC_DIR]
    python bench/thread_cpu.py bench/passthrough.py          # the bare pass-through

Starts ``switchman sim`` and the gateway (``switchman serve --config CONFIG``, with ``PYTHONPATH=SRC_DIR``
when given; or a ``.py`` script started as ``SCRIPT PORT UPSTREAM uvloop``), pins the gateway to CPU 0 and
the sim and load generator to CPU 1 (as ``bench/gateway_load.py`` does), sends 3,000 warm-up requests, then
reads every thread's ``utime``/``stime`` and context switches from ``/proc`` around ``--n`` requests.
Unlike callgrind (``bench/instructions.py``) this sees the kernel's share and what depends on the request
rate (the ledger's batch sizes, thread hand-overs). Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instructions import free_port, load, wait

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> dict[int, tuple[int, int, int, int]]:
    """tid → (utime ticks, stime ticks, voluntary, involuntary context switches)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text().splitlines()
        except OSError:
            continue  # the thread ended
        switches = [int(line.split()[1]) for line in status if "ctxt_switches" in line]
        out[int(task.name)] = (int(stat[11]), int(stat[12]), switches[0], switches[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--model", default="switchman/auto", help="model or router the requests name")
    ap.add_argument("--n", type=int, default=30_000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--src", default=None)
    args = ap.parse_args()
    sim_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{sim_port}/v1"
    env = dict(os.environ, SWITCHMAN_BENCH_UPSTREAM=upstream)
    env["SWITCHMAN_BENCH_DATA_DIR"] = f"/tmp/switchman-thread-cpu-{os.getpid()}"
    if args.src:
        env["PYTHONPATH"] = args.src
    sim = subprocess.Popen(
        [PY, "-m", "switchman.cli.main", "sim", "--port", str(sim_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    if args.config.endswith(".py"):
        cmd = [PY, args.config, str(port), upstream, "uvloop"]
    else:
        cmd = [PY, "-m", "switchman.cli.main", "serve", "--config", args.config, "--port", str(port)]
    gw = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    os.sched_setaffinity(sim.pid, {1})
    os.sched_setaffinity(gw.pid, {0})
    os.sched_setaffinity(0, {1})  # this process and the load generators it starts
    try:
        wait(sim_port)
        wait(port)
        load(port, 3000, args.conc, False, args.model)
        before = threads(gw.pid)
        t0 = time.time()
        ok = load(port, args.n, args.conc, False, args.model)
        elapsed = time.time() - t0
        time.sleep(1.5)  # the ledger's last batch and the log flush for these requests
        after = threads(gw.pid)
        total_u = total_s = 0.0
        for tid, (u, s, vol, invol) in sorted(after.items()):
            u0, s0, vol0, invol0 = before.get(tid, (0, 0, 0, 0))
            du, ds = (u - u0) / TICK * 1e6 / ok, (s - s0) / TICK * 1e6 / ok
            total_u, total_s = total_u + du, total_s + ds
            if du + ds:
                print(
                    f"thread {tid:>7}  user {du:6.1f}  sys {ds:5.1f} µs/request  "
                    f"switches/request: voluntary {(vol - vol0) / ok:.3f}, "
                    f"involuntary {(invol - invol0) / ok:.3f}"
                )
        print(
            f"total           user {total_u:6.1f}  sys {total_s:5.1f} µs/request  "
            f"({ok / elapsed:,.0f} requests/s)"
        )
    finally:
        gw.terminate()
        sim.terminate()
        gw.wait()
        sim.wait()


if __name__ == "__main__":
    main()
