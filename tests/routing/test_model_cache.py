"""Where built models are cached: the environment, read by config.load and applied by the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from switchman.cli.main import cli
from switchman.config.load import model_cache_dir as from_env
from switchman.routing.minilm_onnx import default_cache_dir
from switchman.routing.model_cache import model_cache_dir, set_model_cache_dir

CONFIG = """
providers: {sim: {type: sim}}
models: {small: {provider: sim, input_price: 0.1, output_price: 0.2}}
"""


def test_environment_resolution(tmp_path: Path) -> None:
    assert from_env({}) is None
    assert from_env({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "switchman"
    both = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "SWITCHMAN_CACHE_DIR": str(tmp_path / "mine")}
    assert from_env(both) == tmp_path / "mine"


def test_the_cli_applies_it_for_every_command(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    try:
        out = CliRunner().invoke(
            cli, ["config", "check", str(cfg)], env={"SWITCHMAN_CACHE_DIR": str(tmp_path / "models")}
        )
        assert out.exit_code == 0, out.output
        assert model_cache_dir() == default_cache_dir() == tmp_path / "models"
        out = CliRunner().invoke(
            cli, ["config", "check", str(cfg)], env={"SWITCHMAN_CACHE_DIR": None, "XDG_CACHE_HOME": None}
        )
        assert out.exit_code == 0, out.output
        assert model_cache_dir() == Path.home() / ".cache" / "switchman"
    finally:
        set_model_cache_dir(None)
