"""Instructions per request of gateway variants under valgrind (callgrind): deterministic, unlike CPU time
on a shared machine. User-space instructions only (the kernel's share of socket I/O is not counted).

    python bench/instructions.py CONFIG NAME=SRC_DIR [NAME=SRC_DIR ...] [--n 500] [--conc 16]

Each variant is ``switchman serve --config CONFIG`` run with ``PYTHONPATH=SRC_DIR`` (e.g. a ``git worktree``
of another commit: ``base=/tmp/base/src``), or a script ending in ``.py`` started as
``SCRIPT PORT UPSTREAM uvloop`` (``bench/passthrough.py``). A ``switchman sim`` upstream and
``bench/loadgen.py`` drive it; counting is switched on only around the measured requests (after 200
warm-up requests) with ``callgrind_control``. Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BODY = {
    "model": "switchman/fixed",
    "messages": [
        {
            "role": "user",
            "content": "Say hello in one short sentence please, and tell me what a dict comprehension is.",
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(port: int, timeout: float = 120.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listening on {port}")


def load(port: int, n: int, conc: int, stream: bool, model: str) -> int:
    body = json.dumps({**BODY, "model": model, "stream": stream})
    spec = {
        "host": "127.0.0.1",
        "port": port,
        "path": "/v1/chat/completions",
        "body": body,
        "stream": stream,
        "concurrency": conc,
        "requests": n,
        "duration_s": 600,
        "start_at": time.time() + 0.2,
    }
    out = subprocess.run(
        [PY, str(ROOT / "bench" / "loadgen.py"), json.dumps(spec)], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    if result["errors"]:
        raise SystemExit(f"errors: {result['first_error']}")
    return int(result["ok"])


def measure(name: str, src: str, config: str, sim_port: int, args: argparse.Namespace) -> None:
    port = free_port()
    outdir = Path(f"/tmp/switchman-callgrind-{name}")
    outdir.mkdir(exist_ok=True)
    for f in outdir.glob("cg.*"):
        f.unlink()
    upstream = f"http://127.0.0.1:{sim_port}/v1"
    env = dict(os.environ, SWITCHMAN_BENCH_UPSTREAM=upstream, SWITCHMAN_BENCH_DATA_DIR=f"{outdir}/data")
    if src.endswith(".py"):
        app = [PY, src, str(port), upstream, "uvloop"]
    else:
        env["PYTHONPATH"] = src
        app = [PY, "-m", "switchman.cli.main", "serve", "--config", config, "--port", str(port)]
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={outdir}/cg.%p", *app]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait(port)
        load(port, 200, args.conc, args.stream, args.model)
        time.sleep(1.5)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=False)
        ok = load(port, args.n, args.conc, args.stream, args.model)
        time.sleep(1.5)  # the ledger writer and the log flush run for these requests
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True, check=False)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=False)
        time.sleep(1.0)
        total = 0
        for f in glob.glob(f"{outdir}/cg.*"):
            for line in Path(f).read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        print(f"{name:14s} {total / ok / 1e3:8.1f} k instructions/request ({ok} requests)", flush=True)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("variants", nargs="+", help="NAME=SRC_DIR or NAME=SCRIPT.py")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--model", default="switchman/fixed", help="model or router the requests name")
    args = ap.parse_args()
    sim_port = free_port()
    sim = subprocess.Popen(
        [PY, "-m", "switchman.cli.main", "sim", "--port", str(sim_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        wait(sim_port)
        for variant in args.variants:
            name, src = variant.split("=", 1)
            measure(name, src, args.config, sim_port, args)
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    main()
