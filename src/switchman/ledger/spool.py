"""The spool: ledger rows waiting on local disk (JSONL segments) while the database is unreachable.

Bounded by ``max_bytes``: past it, new rows are refused (counted as dropped, logged) so that a long
outage cannot fill the disk. Segments are written as ``*.part`` by one process, closed to ``*.jsonl``,
and claimed for replay by renaming (atomic), so several worker processes can share one directory.
Replays are idempotent (inserts skip ids already present), so a crash mid-replay loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("switchman.ledger")

SEGMENT_BYTES = 8 * 1024 * 1024


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.pid = os.getpid()
        self._part: Path | None = None
        self._fh: IO[bytes] | None = None
        self._part_bytes = 0
        #: Rows written to the spool by this process and not yet replayed (an estimate across processes).
        self.pending_rows = 0
        self.dropped = 0

    # -- writing ------------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        if not self.dir.exists():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.name.startswith("spool-"))

    def append(self, rows: list[dict[str, Any]]) -> int:
        """Write rows durably (fsync); returns how many were written (the rest were dropped: full)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        budget = self.max_bytes - self.size_bytes()
        lines = [orjson.dumps(r) + b"\n" for r in rows]
        keep = 0
        used = 0
        for line in lines:
            if used + len(line) > budget:
                break
            used += len(line)
            keep += 1
        if keep < len(lines):
            self.dropped += len(lines) - keep
            log.error(
                "ledger spool is full; records dropped",
                extra={"dropped": len(lines) - keep, "spool_max_bytes": self.max_bytes},
            )
        if keep:
            fh = self._open()
            fh.write(b"".join(lines[:keep]))
            fh.flush()
            os.fsync(fh.fileno())
            self._part_bytes += used
            self.pending_rows += keep
            if self._part_bytes >= self.segment_bytes:
                self.seal()
        return keep

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            self._part = self.dir / f"spool-{time.time_ns()}-{self.pid}.part"
            self._fh = self._part.open("ab")
            self._part_bytes = 0
        return self._fh

    def seal(self) -> None:
        """Close the segment being written so that it can be replayed."""
        if self._fh is not None and self._part is not None:
            self._fh.close()
            self._part.rename(self._part.with_suffix(".jsonl"))
        self._fh, self._part = None, None

    # -- replaying ----------------------------------------------------------------------------------
    def has_pending(self) -> bool:
        return self._fh is not None or any(self._replayable())

    def _replayable(self) -> Iterator[Path]:
        if not self.dir.exists():
            return
        for p in sorted(self.dir.glob("spool-*")):
            if p.suffix == ".jsonl":
                yield p
            elif p != self._part:  # a *.part or *.replaying-PID left by a process that died
                pid = int(p.name.split("-")[2].split(".")[0]) if p.suffix == ".part" else 0
                if p.suffix.startswith(".replaying-"):
                    pid = int(p.suffix.rsplit("-", 1)[1])
                if pid != self.pid and not _pid_alive(pid):
                    yield p

    def claim(self) -> Iterator[Path]:
        """Seal our segment, then yield segments this process now owns (renamed ``*.replaying-PID``)."""
        self.seal()
        for p in list(self._replayable()):
            mine = p.with_suffix(f".replaying-{self.pid}")
            try:
                p.rename(mine)
            except FileNotFoundError:  # another worker claimed it first
                continue
            yield mine

    @staticmethod
    def read(path: Path, batch: int) -> Iterator[list[dict[str, Any]]]:
        out: list[dict[str, Any]] = []
        with path.open("rb") as fh:
            for line in fh:
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError:  # a torn last line after a crash
                    log.warning("ledger spool: skipped an unreadable line", extra={"file": path.name})
                    continue
                if len(out) >= batch:
                    yield out
                    out = []
        if out:
            yield out

    def release(self, path: Path) -> None:
        """Give a claimed segment back (replay failed; the database went away again)."""
        with contextlib.suppress(FileNotFoundError):
            path.rename(path.with_suffix(".jsonl"))

    def done(self, path: Path, rows: int) -> None:
        path.unlink(missing_ok=True)
        self.pending_rows = max(0, self.pending_rows - rows)

    def close(self) -> None:
        self.seal()
