"""Which of switchman's modules run compiled, and whether a compiled module is older than its source.

The modules in :data:`NATIVE_MODULES` (routing, the catalog, the request's wire types) are the
per-request Python work that is switchman's own. ``make`` compiles them with mypyc (``setup.py``,
``SWITCHMAN_NATIVE=1``) into C extensions beside their sources, which Python then imports instead of the
``.py`` files: the same code and types, a quarter fewer instructions in routing (docs/benchmarks.md).
With ``make NATIVE=0`` (or a plain ``pip install``) the same modules run as Python, with the same
results.

A compiled module never sees an edit of its source: :func:`stale` names the modules whose extension is
older than the ``.py`` (``make`` rebuilds them; ``switchman serve`` warns; the test suite refuses to run).

Rules for these modules, which mypyc imposes or which keep them safe to compile:

- a class of theirs is not subclassed outside them (compiled classes refuse interpreted subclasses), and
  does not subclass a library's class whose instances are weakly referenced (``logging.Handler``: the
  compiled log handler crashed the process, which is why ``serving/logs.py`` stays Python);
- an ``isinstance`` check never names a ``Protocol`` of theirs (compiled, it is not runtime-checkable);
- a dataclass of theirs handed to ``orjson`` has ``slots`` (orjson reads a compiled class without slots
  as if it had a ``__dict__``);
- no async generators and no ``break``/``continue`` inside ``try``/``finally`` (not compiled by mypyc).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os

__all__ = ["NATIVE_MODULES", "compiled", "stale"]

NATIVE_MODULES: tuple[str, ...] = (
    "switchman.catalog",
    "switchman.wire",
    "switchman.routing.analyze",
    "switchman.routing.decision",
    "switchman.routing.explain",
    "switchman.routing.llama_words",
    "switchman.routing.policy",
    "switchman.routing.request",
    "switchman.routing.rounding",
    "switchman.routing.rules",
    "switchman.routing.scoring",
    "switchman.routing.semantic",
    "switchman.routing.tokens",
    "switchman.routing.trace",
)

_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def _origin(module: str) -> str | None:
    spec = importlib.util.find_spec(module)
    return spec.origin if spec is not None else None


def compiled() -> list[str]:
    """The modules of :data:`NATIVE_MODULES` that import as C extensions (without importing them)."""
    return [m for m in NATIVE_MODULES if (_origin(m) or "").endswith(_EXTENSIONS)]


def stale() -> list[str]:
    """The compiled modules whose ``.py`` source is newer than their extension."""
    out = []
    for module in compiled():
        ext = _origin(module)
        assert ext is not None
        source = ext[: ext.rindex("/") + 1] + module.rpartition(".")[2] + ".py"
        if os.path.exists(source) and os.path.getmtime(source) > os.path.getmtime(ext):
            out.append(module)
    return out
