"""Structured JSON logs (one object per line) with the request id when there is one."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

import orjson

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


_second_cache: tuple[int, str] = (-1, "")


def _timestamp(created: float, msecs: float) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is formatted once per second
    (strftime costs ~1.5 µs)."""
    global _second_cache
    t = int(created)
    if _second_cache[0] != t:
        _second_cache = (t, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)))
    return f"{_second_cache[1]}.{int(msecs):03d}Z"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class BatchingStreamHandler(logging.Handler):
    """Writes formatted lines in batches: one write per ``interval_s`` instead of one per request.

    Warnings and errors (and a full buffer) are written at once; a daemon thread writes the rest every
    ``interval_s``; ``logging.shutdown`` (at exit) flushes what is left. On the request path this costs the
    formatting only, not a system call per line.
    """

    def __init__(self, stream: TextIO, *, interval_s: float = 0.2, max_lines: int = 512) -> None:
        super().__init__()
        self.stream = stream
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), name="log-flush", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)  # under the handler's lock (Handler.handle holds it)
        if record.levelno >= logging.WARNING or len(self._lines) >= self.max_lines:
            self.flush()

    def add_line(self, line: str) -> None:
        """A line formatted elsewhere (:func:`info_line`), written with the next batch."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self._lines.append(line)
            if len(self._lines) >= self.max_lines:
                self.flush()

    def flush(self) -> None:
        assert self.lock is not None  # created by Handler.__init__ (an RLock: emit holds it already)
        with self.lock:
            lines, self._lines = self._lines, []
            if lines:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()

    def _loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


#: The handler :func:`setup_logging` installed (the process's only one), for :func:`info_line`.
_batching: BatchingStreamHandler | None = None


def info_line(logger: logging.Logger, msg: str, fields: dict[str, Any]) -> None:
    """``logger.info(msg, extra=fields)``, as the same JSON line, without a ``LogRecord``.

    For the per-request line: when :func:`setup_logging`'s batching handler is the root's only handler
    (and neither ``logger`` nor it has filters or other handlers), the line is built here and handed to
    it (a LogRecord, the handler chain and the formatter's pass over the record cost ~8 µs a request).
    Otherwise (tests, embedding apps with their own logging) it goes through ``logger.info`` unchanged.
    """
    h = _batching
    if (
        h is None
        or logger.handlers
        or logger.filters
        or h.filters
        or logging.root.handlers != [h]
        or not logger.isEnabledFor(logging.INFO)
    ):
        logger.info(msg, extra=fields)
        return
    now = time.time()
    out = {"ts": _timestamp(now, (now % 1) * 1000), "level": "info", "logger": logger.name, "msg": msg}
    out.update(fields)
    h.add_line(orjson.dumps(out, default=str).decode())


def setup_logging(level: str = "info") -> None:
    # Records carry no caller, thread or process fields (the JSON lines do not use them): skip
    # collecting them, as the logging HOWTO's "Optimization" section describes. ~2 µs per record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    global _batching
    handler = BatchingStreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    _batching = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
