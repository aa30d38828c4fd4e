"""Session fixtures: one `switchman sim` and one `switchman serve` shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import SECRET, SIM_MODELS, Proc, gateway_config, start_gateway, start_sim
from switchman.native import NATIVE_MODULES, compiled, stale


def pytest_report_header() -> str:
    return f"switchman: {len(compiled())} of {len(NATIVE_MODULES)} per-request modules compiled (mypyc)"


def pytest_sessionstart(session: pytest.Session) -> None:
    # a compiled module would run the code from before the edit of its source
    if old := stale():
        pytest.exit(f"compiled modules older than their sources: {', '.join(old)}; run `make native`", 2)


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("procs")


@pytest.fixture(scope="session")
def sim(session_tmp: Path) -> Iterator[Proc]:
    proc = start_sim(session_tmp, SIM_MODELS)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def gateway(session_tmp: Path, sim: Proc) -> Iterator[Proc]:
    proc = start_gateway(session_tmp, gateway_config(sim.url), env={"SIM_API_KEY": SECRET})
    yield proc
    proc.stop()
