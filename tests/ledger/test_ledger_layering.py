"""The ledger (and alerts) depend on plain values only: never on providers, routing, serving or dispatch."""

from __future__ import annotations

import ast
from pathlib import Path

import switchman

SRC = Path(switchman.__file__).parent
FORBIDDEN = ("switchman.providers", "switchman.routing", "switchman.serving", "switchman.dispatch")


def imports_of(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_ledger_and_alerts_import_nothing_from_upper_layers() -> None:
    files = [*(SRC / "ledger").rglob("*.py"), *(SRC / "alerts").rglob("*.py")]
    assert len(files) > 8
    bad = {f"{f.relative_to(SRC)}: {m}" for f in files for m in imports_of(f) if m.startswith(FORBIDDEN)}
    assert not bad
