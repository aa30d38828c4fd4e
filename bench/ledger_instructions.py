"""Instructions per record of the real LedgerWriter on SQLite, under valgrind (callgrind), split into the
event-loop thread and the writer's worker threads: deterministic, unlike CPU time on a shared machine.

    python bench/ledger_instructions.py [--batch 10] [--batches 100] [--src SRC_DIR]

Records arrive ``--batch`` at a time and are flushed by the interval timer, as on a gateway (under
valgrind the gateway of ``bench/instructions.py`` serves ~8 requests/s, so its flushes hold ~8 records).
Counting is switched on (``callgrind_control``) after 10 warm-up batches. ``--src`` runs another source
tree (e.g. ``git archive``/``git worktree`` of an older commit) for an A/B. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 10


def _count(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], capture_output=True)
    time.sleep(0.5)


async def _child(batch: int, batches: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from ledger_write import make_records

    from switchman.config.observe import LedgerConfig
    from switchman.ledger.writer import LedgerWriter

    with tempfile.TemporaryDirectory() as tmp:
        w = LedgerWriter(LedgerConfig(data_dir=tmp, batch_size=10**6, flush_interval_s=0.3))
        await w.start()
        recs = make_records(batch, "i")
        for i in range(WARMUP + batches):
            if i == WARMUP:
                _count(True)
            for j, r in enumerate(recs):
                r.request_id = f"req_{i}_{j}"
                w.submit(r)
            await asyncio.sleep(0.4)  # one timer, not a polling loop that would be counted
            while w.written < (i + 1) * batch:
                await asyncio.sleep(0.05)
        _count(False)
        await w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--src", default=str(ROOT / "src"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(_child(args.batch, args.batches))
        return
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}/cg",
            sys.executable,
            __file__,
            "--child",
            f"--batch={args.batch}",
            f"--batches={args.batches}",
        ]
        env = dict(os.environ, PYTHONPATH=args.src)
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        per: dict[str, int] = {}
        for f in glob.glob(f"{out}/cg*"):
            for line in Path(f).read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    per[f] = max(per.get(f, 0), int(line.split()[1]))
    n = args.batch * args.batches
    loop = sum(v for k, v in per.items() if k.endswith("-01"))
    total = sum(per.values())
    print(
        f"{total / n / 1e3:6.1f}k instructions/record (batches of {args.batch}): "
        f"event loop {loop / n / 1e3:.1f}k, writer threads {(total - loop) / n / 1e3:.1f}k"
    )


if __name__ == "__main__":
    main()
