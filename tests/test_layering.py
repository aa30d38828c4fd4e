"""The house has one direction: the import rules of DESIGN.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import switchman

SRC = Path(__file__).resolve().parents[1] / "src" / "switchman"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


MODULES = {module_name(p): imports_of(p) for p in SRC.rglob("*.py")}

# (modules under this prefix, must not import anything under these prefixes)
RULES: list[tuple[str, tuple[str, ...]]] = [
    (
        "switchman.routing",
        (
            "aiohttp",
            "httpx",
            "sqlalchemy",
            "alembic",
            "redis",
            "psycopg",
            "switchman.serving",
            "switchman.dispatch",
            "switchman.providers",
            "switchman.ledger",
            "switchman.limits",
            "switchman.cli",
        ),
    ),
    (
        "switchman.ledger",
        ("switchman.providers", "switchman.routing", "switchman.serving", "switchman.dispatch"),
    ),
    (
        "switchman.providers",
        ("switchman.serving", "switchman.dispatch", "switchman.routing", "switchman.cli"),
    ),
    ("switchman.dispatch", ("switchman.serving", "switchman.cli", "switchman.ledger")),
    ("switchman.catalog", ("switchman.serving", "switchman.dispatch", "switchman.providers", "aiohttp")),
    (
        "switchman.records",
        ("switchman.serving", "switchman.dispatch", "switchman.providers", "switchman.routing"),
    ),
    (
        "switchman.config",
        (
            "switchman.serving",
            "switchman.dispatch",
            "switchman.providers",
            "switchman.routing",
            "switchman.ledger",
            "switchman.limits",
            "switchman.cli",
        ),
    ),
    ("switchman.errors", ("switchman.",)),
    (
        "switchman.wire",
        ("switchman.serving", "switchman.dispatch", "switchman.providers", "switchman.routing"),
    ),
    ("switchman.serving", ("switchman.cli",)),
    ("switchman.learning", ("switchman.serving", "aiohttp.web")),
]


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layer_imports(layer: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{mod} imports {imp}"
        for mod, imps in MODULES.items()
        if _matches(mod, layer)
        for imp in imps
        if any(_matches(imp, f) for f in forbidden)
    ]
    assert not bad, "\n".join(bad)


def test_only_cli_and_serving_load_config() -> None:
    bad = [
        mod
        for mod, imps in MODULES.items()
        if any(_matches(i, "switchman.config.load") for i in imps)
        and not (
            _matches(mod, "switchman.cli") or _matches(mod, "switchman.serving") or mod == "switchman.config"
        )
    ]
    assert not bad


def test_only_config_load_reads_environ() -> None:
    readers = [
        module_name(p)
        for p in SRC.rglob("*.py")
        if "os.environ" in p.read_text(encoding="utf-8") or "getenv(" in p.read_text(encoding="utf-8")
    ]
    assert readers == ["switchman.config.load"] or set(readers) <= {
        "switchman.config.load",
        "switchman.cli.serve",
    }


def test_routing_runtime_imports_no_io_modules() -> None:
    """Importing the routing package pulls in no HTTP, server or database module."""
    import subprocess
    import sys

    code = (
        "import sys, switchman.routing.policy, switchman.routing.decision;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('aiohttp','httpx','sqlalchemy','redis','psycopg')"
        " or m.startswith(('switchman.serving','switchman.dispatch',"
        "'switchman.providers','switchman.ledger'))];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api_is_sorted_and_importable() -> None:
    assert list(switchman.__all__) == sorted(switchman.__all__)
    for name in switchman.__all__:
        assert hasattr(switchman, name)
