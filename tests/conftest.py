"""Session fixtures: one `switchman sim` and one `switchman serve` shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import SECRET, SIM_MODELS, Proc, gateway_config, start_gateway, start_sim


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
