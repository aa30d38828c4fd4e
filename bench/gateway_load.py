"""Gateway throughput benchmark: switchman vs a bare aiohttp pass-through (the ceiling) [vs LiteLLM].

Starts `switchman sim` (0 ms latency), then for each target a proxy in front of it (separate processes,
127.0.0.1 only), and drives each with bench/loadgen.py at several concurrencies, non-streaming and
streaming. Reports requests/s, p50/p99 latency, the proxy process's CPU-ms per request (from
/proc/PID/stat) and RSS, with ratios to the pass-through measured in the same run.

CPU placement (2 cores): the proxy under test is pinned to CPU 0, the sim and the load generator to CPU 1
(``--no-pin`` turns this off). The proxy-core utilisation column says whether the proxy was the
bottleneck; when it is well below 100 %, requests/s is bounded by the sim + load generator core and the
CPU-ms per request (and the capacity it implies) is the number to compare.

    python bench/gateway_load.py                 # full run, markdown table
    python bench/gateway_load.py --quick --json out.json
    python bench/gateway_load.py --targets passthrough,switchman,litellm   # after bench/litellm/setup.sh
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SWITCHMAN = [PY, "-m", "switchman.cli.main"]
LITELLM = BENCH / ".litellm-venv" / "bin" / "litellm"
TICK = os.sysconf("SC_CLK_TCK")
PROMPT = "Explain in two sentences why load tests need a fixed upstream."
MODEL_OF = {
    "passthrough": "bench-model",
    "switchman": "switchman/fixed",
    "switchman-lean": "switchman/fixed",
    "switchman-routed": "switchman/auto",
    "litellm": "bench-model",
}


@dataclass
class Row:
    target: str
    mode: str  # "plain" or "stream"
    concurrency: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_req: float
    proxy_core_util: float  # proxy CPU seconds / wall seconds (1.0 = one core busy)
    sim_cpu_ms_per_req: float
    loadgen_cpu_ms_per_req: float
    rss_mb: float
    others_cpu_cores: float  # CPU used by processes outside this benchmark during the scenario (cores)
    first_error: str | None = None


class Procs:
    """The processes this run started; stopped by PID, SIGTERM then SIGKILL."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, cmd: list[str], cpus: set[int] | None, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        log = (self.logdir / f"{name}.log").open("wb")
        p = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        self.started.append(p)
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(p.pid, cpus)
        return p

    def stop(self, p: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        with contextlib.suppress(ValueError):
            self.started.remove(p)

    def stop_all(self) -> None:
        for p in list(reversed(self.started)):
            self.stop(p, grace=5.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(model: str, stream: bool) -> bytes:
    data: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 64,
    }
    if stream:
        data["stream"] = True
        data["stream_options"] = {"include_usage": True}
    return json.dumps(data).encode()


def wait_ready(
    port: int, model: str, p: subprocess.Popen[bytes], timeout: float, name: str, headers: dict[str, str]
) -> None:
    """Poll with a real chat request until it answers 200 (or the process dies / time runs out)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    last = ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"{name} exited with {p.returncode} before it was ready (see its log)")
        req = urllib.request.Request(
            url, data=body(model, False), headers={"content-type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise SystemExit(f"{name} not ready after {timeout:.0f}s: {last}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (everything but idle and iowait)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


@dataclass
class Plan:
    requests: int
    duration_s: float
    concurrencies: list[int]
    modes: list[str]
    loadgen_procs: int
    client: str
    pin: bool
    rounds: int


@dataclass
class Target:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    headers: dict[str, str]


def drive(procs: Procs, plan: Plan, t: Target, stream: bool, conc: int, n: int) -> dict[str, Any]:
    """Run the load generator(s) once and merge their results."""
    nproc = max(1, min(plan.loadgen_procs, conc))
    start_at = time.time() + 0.8  # let every generator process import before the clock starts
    gens = []
    for i in range(nproc):
        spec = {
            "host": "127.0.0.1",
            "port": t.port,
            "path": "/v1/chat/completions",
            "body": body(MODEL_OF[t.name], stream).decode(),
            "stream": stream,
            "concurrency": conc // nproc + (1 if i < conc % nproc else 0),
            "requests": n // nproc + (1 if i < n % nproc else 0),
            "duration_s": plan.duration_s,
            "start_at": start_at,
            "client": plan.client,
            "headers": t.headers,
        }
        cmd = [PY, str(BENCH / "loadgen.py"), json.dumps(spec)]
        gens.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, start_new_session=True))
        procs.started.append(gens[-1])  # type: ignore[arg-type]
        if plan.pin:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(gens[-1].pid, {1})
    lats: list[float] = []
    out = {"ok": 0, "errors": 0, "first_error": None, "elapsed_s": 0.0}
    for g in gens:
        try:
            stdout, _ = g.communicate(timeout=plan.duration_s + 60)
        except subprocess.TimeoutExpired:
            procs.stop(g)  # type: ignore[arg-type]
            raise SystemExit("load generator did not finish in time") from None
        with contextlib.suppress(ValueError):
            procs.started.remove(g)  # type: ignore[arg-type]
        if g.returncode != 0:
            raise SystemExit(f"load generator failed with exit code {g.returncode}")
        r = json.loads(stdout)
        lats.extend(r["latencies_ms"])
        out["ok"] += r["ok"]
        out["errors"] += r["errors"]
        out["first_error"] = out["first_error"] or r["first_error"]
        out["elapsed_s"] = max(out["elapsed_s"], r["elapsed_s"])
    lats.sort()
    out["latencies_ms"] = lats
    return out


def measure(procs: Procs, plan: Plan, t: Target, sim_pid: int, mode: str, conc: int) -> Row:
    """One scenario against one target: load, then the proxy's CPU, RSS and the machine's other load."""
    n = plan.requests if conc > 1 else max(200, plan.requests // 4)
    cpu0, sim0, gen0 = cpu_seconds(t.proc.pid), cpu_seconds(sim_pid), children_cpu()
    busy0, wall0 = machine_busy(), time.monotonic()
    r = drive(procs, plan, t, mode == "stream", conc, n)
    cpu1, sim1, gen1 = cpu_seconds(t.proc.pid), cpu_seconds(sim_pid), children_cpu()
    ours = (cpu1 - cpu0) + (sim1 - sim0) + (gen1 - gen0)
    others = max(0.0, machine_busy() - busy0 - ours) / (time.monotonic() - wall0)
    ok, lat, elapsed = max(r["ok"], 1), r["latencies_ms"], r["elapsed_s"] or 1e-9
    return Row(
        target=t.name,
        mode=mode,
        concurrency=conc,
        requests=r["ok"],
        errors=r["errors"],
        rps=r["ok"] / elapsed,
        p50_ms=pct(lat, 0.50),
        p99_ms=pct(lat, 0.99),
        cpu_ms_per_req=(cpu1 - cpu0) * 1000 / ok,
        proxy_core_util=(cpu1 - cpu0) / elapsed,
        sim_cpu_ms_per_req=(sim1 - sim0) * 1000 / ok,
        loadgen_cpu_ms_per_req=(gen1 - gen0) * 1000 / ok,
        rss_mb=rss_mb(t.proc.pid),
        others_cpu_cores=others,
        first_error=r["first_error"],
    )


def median_row(rows: list[Row]) -> Row:
    """The per-field median over rounds (requests and errors summed, RSS the largest)."""
    out = Row(**asdict(rows[0]))
    for f in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req", "proxy_core_util", "sim_cpu_ms_per_req"):
        setattr(out, f, statistics.median(getattr(r, f) for r in rows))
    out.loadgen_cpu_ms_per_req = statistics.median(r.loadgen_cpu_ms_per_req for r in rows)
    out.others_cpu_cores = statistics.median(r.others_cpu_cores for r in rows)
    out.requests = sum(r.requests for r in rows)
    out.errors = sum(r.errors for r in rows)
    out.rss_mb = max(r.rss_mb for r in rows)
    out.first_error = next((r.first_error for r in rows if r.first_error), None)
    return out


def run_all(procs: Procs, plan: Plan, targets: list[Target], sim_pid: int) -> list[Row]:
    """Every scenario, the targets interleaved round by round so that a burst of outside load on this
    shared machine hits them alike; each row is the median over rounds."""
    for t in targets:
        for stream in (False, True):  # warm-up: connection pools, caches, lazy imports
            drive(procs, plan, t, stream, 16, min(500, plan.requests))
    rows: list[Row] = []
    for mode in plan.modes:
        for conc in plan.concurrencies:
            runs: dict[str, list[Row]] = {t.name: [] for t in targets}
            for _ in range(plan.rounds):
                for t in targets:
                    runs[t.name].append(measure(procs, plan, t, sim_pid, mode, conc))
            for t in targets:
                row = median_row(runs[t.name])
                rows.append(row)
                print(
                    f"  {t.name:14s} {mode:6s} c={conc:<3d} {row.rps:8.0f} req/s "
                    f"{row.cpu_ms_per_req:6.3f} cpu-ms/req errors={row.errors} "
                    f"(rounds: {', '.join(f'{r.cpu_ms_per_req:.3f}' for r in runs[t.name])})",
                    file=sys.stderr,
                )
    return sorted(rows, key=lambda r: [t.name for t in targets].index(r.target))


def start_target(
    procs: Procs, name: str, upstream: str, args: argparse.Namespace, env: dict[str, str]
) -> Target:
    port = free_port()
    cpus = {0} if args.pin else None
    headers: dict[str, str] = {}
    if name == "passthrough":
        cmd = [PY, str(BENCH / "passthrough.py"), str(port), upstream, args.loop]
    elif name in ("switchman", "switchman-lean", "switchman-routed"):
        config = {
            "switchman": args.config,
            "switchman-lean": BENCH / "configs" / "lean.yaml",
            "switchman-routed": BENCH / "configs" / "routed.yaml",
        }[name]
        cmd = [*SWITCHMAN, "serve", "--config", str(config), "--port", str(port), "--loop", args.loop]
    elif name == "litellm":
        if not LITELLM.exists():
            raise SystemExit(f"{LITELLM} not found: run bash bench/litellm/setup.sh first")
        cmd = [
            str(LITELLM),
            "--config",
            str(BENCH / "litellm" / "config.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
        # LiteLLM refuses to start without a master key: a throw-away one for this run only.
        key = "sk-bench-" + secrets.token_hex(16)
        env = dict(env, LITELLM_MASTER_KEY=key, LITELLM_LOG="ERROR")
        headers = {"authorization": f"Bearer {key}"}
    else:
        raise SystemExit(
            f"unknown target {name!r} (passthrough, switchman, switchman-lean, switchman-routed, litellm)"
        )
    p = procs.start(name, cmd, cpus, env)
    wait_ready(port, MODEL_OF[name], p, 180 if name == "litellm" else 30, name, headers)
    return Target(name, p, port, headers)


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Each row as a dict, with throughput and CPU ratios to the pass-through's matching row."""
    base = {(r.mode, r.concurrency): r for r in rows if r.target == "passthrough"}
    out = []
    for r in rows:
        d = asdict(r)
        b = base.get((r.mode, r.concurrency))
        d["rps_vs_passthrough"] = r.rps / b.rps if b and b.rps else None
        d["cpu_vs_passthrough"] = r.cpu_ms_per_req / b.cpu_ms_per_req if b and b.cpu_ms_per_req else None
        out.append(d)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| target | mode | conc | req/s | × pass-through | p50 ms | p99 ms | CPU ms/req | × pass-through CPU "
        "| proxy core busy | sim CPU ms/req | loadgen CPU ms/req | RSS MB | other load (cores) | errors |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for d in rows:
        x = f"{d['rps_vs_passthrough']:.2f}" if d["rps_vs_passthrough"] is not None else "-"
        c = f"{d['cpu_vs_passthrough']:.2f}" if d["cpu_vs_passthrough"] is not None else "-"
        lines.append(
            f"| {d['target']} | {d['mode']} | {d['concurrency']} | {d['rps']:,.0f} | {x} | {d['p50_ms']:.2f} "
            f"| {d['p99_ms']:.2f} | {d['cpu_ms_per_req']:.3f} | {c} | {d['proxy_core_util'] * 100:.0f} % "
            f"| {d['sim_cpu_ms_per_req']:.3f} | {d['loadgen_cpu_ms_per_req']:.3f} | {d['rss_mb']:.0f} "
            f"| {d['others_cpu_cores']:.2f} | {d['errors']} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (fewer requests, shorter cap)")
    ap.add_argument(
        "--requests", type=int, default=None, help="requests per scenario (default 4000, quick 600)"
    )
    ap.add_argument(
        "--duration", type=float, default=None, help="cap per scenario, seconds (default 20, quick 5)"
    )
    ap.add_argument(
        "--targets",
        default="passthrough,switchman,switchman-lean",
        help="comma list: passthrough, switchman (default config), switchman-lean (no log line, "
        "no ledger), switchman-routed (default config with the starter's switchman/auto router: rules, "
        "semantic routes on wordllama, threshold scoring over three models), litellm",
    )
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per scenario (median)")
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the benchmark's processes (negative = ahead of other load; needs root)",
    )
    ap.add_argument("--modes", default="plain,stream")
    ap.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes")
    ap.add_argument("--client", choices=("raw", "aiohttp"), default="raw", help="load generator client")
    ap.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="event loop of switchman and the pass-through alike (auto: uvloop when importable)",
    )
    ap.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs")
    ap.add_argument("--config", type=Path, default=BENCH / "configs" / "fixed.yaml", help="switchman config")
    ap.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="write JSON results to PATH (or stdout with no PATH / '-')",
    )
    args = ap.parse_args(argv)
    if args.loop == "auto":
        args.loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if args.pin and (not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2):
        args.pin = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        requests=args.requests or (600 if args.quick else 4000),
        duration_s=args.duration or (5.0 if args.quick else 20.0),
        concurrencies=[int(c) for c in args.concurrency.split(",")],
        modes=[m.strip() for m in args.modes.split(",")],
        loadgen_procs=args.loadgen_procs,
        client=args.client,
        pin=args.pin,
        rounds=args.rounds or (1 if args.quick else 3),
    )
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every process started below
    logdir = Path(tempfile.mkdtemp(prefix="switchman-bench-"))
    procs = Procs(logdir)
    rows: list[Row] = []
    try:
        sim_port = free_port()
        upstream = f"http://127.0.0.1:{sim_port}/v1"
        env = dict(os.environ, SWITCHMAN_BENCH_UPSTREAM=upstream, PYTHONPATH=str(ROOT / "src"))
        env["SWITCHMAN_BENCH_DATA_DIR"] = str(logdir / "data")  # switchman's ledger (SQLite) goes here
        sim = procs.start("sim", [*SWITCHMAN, "sim", "--port", str(sim_port)], {1} if args.pin else None, env)
        wait_ready(sim_port, "bench-model", sim, 30, "sim", {})
        running = []
        for name in targets:
            print(f"[{name}] starting", file=sys.stderr)
            running.append(start_target(procs, name, upstream, args, env))
        rows = run_all(procs, plan, running, sim.pid)
    finally:
        procs.stop_all()
    table = ratios(rows)
    meta = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        "pinned": "proxy on CPU 0; sim + load generator on CPU 1" if plan.pin else "no pinning",
        "plan": asdict(plan),
        "loop": args.loop,
        "nice": args.nice,
        "logs": str(logdir),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "command": "python bench/gateway_load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if args.json is not None:
        text = json.dumps({"meta": meta, "rows": table}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.json != "-":
        print(f"\n{meta['machine']}; {meta['pinned']}; loop={args.loop}; load average {meta['loadavg']}\n")
        print(markdown(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
