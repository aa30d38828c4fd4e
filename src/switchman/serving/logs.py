"""Structured JSON logs (one object per line) with the request id when there is one."""

from __future__ import annotations

import codecs
import logging
import sys
import threading
import time
from typing import Any, BinaryIO, TextIO

import orjson

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


_second_cache: tuple[int, str] = (-1, "")
#: ``.000Z`` … ``.999Z``: the milliseconds part of a timestamp.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def _second(t: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of unix second ``t``, formatted once per second (strftime costs
    ~1.5 µs)."""
    global _second_cache
    if _second_cache[0] != t:
        _second_cache = (t, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)))
    return _second_cache[1]


def _timestamp(created: float, msecs: float) -> str:
    """ISO 8601 UTC with milliseconds."""
    ms = int(msecs)
    return _second(int(created)) + (_MILLIS[ms] if 0 <= ms < 1000 else f".{ms:03d}Z")


def _timestamp_now() -> str:
    """:func:`_timestamp` of now, from integer milliseconds (no float conversions)."""
    ms = time.time_ns() // 1_000_000
    t = ms // 1000
    cached = _second_cache
    return (cached[1] if cached[0] == t else _second(t)) + _MILLIS[ms - t * 1000]


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

    Lines are kept as UTF-8 bytes (what orjson makes) and written to the stream's binary buffer when it
    has one and encodes UTF-8 (``sys.stderr``), so the per-request line is never decoded; other streams
    (a ``StringIO``) get the text.
    """

    def __init__(self, stream: TextIO, *, interval_s: float = 0.2, max_lines: int = 512) -> None:
        super().__init__()
        self.stream = stream
        self.max_lines = max_lines
        #: Never replaced (see :meth:`add_line` and :meth:`flush`).
        self._lines: list[bytes] = []
        encoding = getattr(stream, "encoding", None)
        utf8 = isinstance(encoding, str) and codecs.lookup(encoding).name == "utf-8"
        self._binary: BinaryIO | None = getattr(stream, "buffer", None) if utf8 else None
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._loop, args=(interval_s,), name="log-flush", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).encode()
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)  # under the handler's lock (Handler.handle holds it)
        if record.levelno >= logging.WARNING or len(self._lines) >= self.max_lines:
            self.flush()

    def add_line(self, line: bytes) -> None:
        """A line formatted elsewhere (:func:`info_line`), UTF-8, written with the next batch.

        Without the handler's lock: ``list.append`` is one step under the GIL, and :meth:`flush` takes the
        lines in two such steps (a copy, then deleting as many from the front), so a line appended in
        between stays for the next batch.
        """
        lines = self._lines
        lines.append(line)
        if len(lines) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        assert self.lock is not None  # created by Handler.__init__ (an RLock: emit holds it already)
        with self.lock:
            lines = self._lines[:]
            del self._lines[: len(lines)]
            if not lines:
                return
            data = b"\n".join(lines) + b"\n"
            binary = self._binary
            if binary is not None:
                self.stream.flush()  # text written to the stream by others goes first
                binary.write(data)
                binary.flush()
            else:
                self.stream.write(data.decode())
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
    handlers = logging.root.handlers
    if (
        h is None
        or len(handlers) != 1
        or handlers[0] is not h
        or logger.handlers
        or logger.filters
        or h.filters
        or not logger.isEnabledFor(logging.INFO)
    ):
        logger.info(msg, extra=fields)
        return
    h.add_line(
        orjson.dumps(
            {"ts": _timestamp_now(), "level": "info", "logger": logger.name, "msg": msg, **fields},
            default=str,
        )
    )


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
