"""Config validation: good files load, bad files fail with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from switchman.cli.main import cli
from switchman.config.load import load_config, parse_config
from switchman.errors import ConfigError

GOOD = """
providers:
  oa:
    type: openai
    base_url: https://api.example.com/v1
    api_key: ${TEST_KEY}
    headers:
      x-org: ${ORG:-default-org}
models:
  small:
    provider: oa
    upstream: small-2025
    input_price: 0.1
    output_price: 0.4
    context_window: 32000
    tier: small
    capabilities: {vision: false, tools: true, json: true}
  large:
    provider: oa
    input_price: 3
    output_price: 15
    tier: large
routers:
  switchman/auto:
    policy: cheapest
"""


def test_good_config_loads_and_resolves_env() -> None:
    cfg = parse_config(GOOD, {"TEST_KEY": "k-123"})
    prov = cfg.providers["oa"]
    assert prov.api_key is not None and prov.api_key.get_secret_value() == "k-123"
    assert prov.headers["x-org"].get_secret_value() == "default-org"
    assert cfg.models["small"].upstream == "small-2025"
    assert cfg.models["small"].capabilities.vision is False
    assert "k-123" not in repr(cfg)  # secrets never printed


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env if env is not None else {"TEST_KEY": "x"})
    return str(info.value)


def test_literal_secret_is_refused() -> None:
    msg = error_of(GOOD.replace("${TEST_KEY}", "sk-live-abc"))
    assert "providers.oa.api_key" in msg and "environment reference" in msg
    assert "sk-live-abc" not in msg


def test_missing_env_var_is_named() -> None:
    msg = error_of(GOOD, env={})
    assert "TEST_KEY" in msg and "providers.oa.api_key" in msg


def test_wrong_type_names_the_key() -> None:
    msg = error_of(GOOD.replace("input_price: 0.1", "input_price: cheap"))
    assert "models.small.input_price" in msg


def test_unknown_provider_reference() -> None:
    msg = error_of(GOOD.replace("provider: oa\n    upstream", "provider: nope\n    upstream"))
    assert "models.small.provider" in msg and "nope" in msg


def test_unknown_tier_and_field() -> None:
    assert "models.small.tier" in error_of(GOOD.replace("tier: small", "tier: tiny"))
    msg = error_of(GOOD.replace("context_window: 32000", "context_window: 32000\n    colour: red"))
    assert "models.small.colour" in msg


def test_router_referencing_unknown_model() -> None:
    msg = error_of(GOOD + "    models: [small, ghost]\n")
    assert "routers.switchman/auto.models" in msg and "ghost" in msg


def test_invalid_yaml() -> None:
    assert "not valid YAML" in error_of("models: [unclosed")


def test_provider_without_base_url() -> None:
    msg = error_of(GOOD.replace("    base_url: https://api.example.com/v1\n", ""))
    assert "providers.oa" in msg and "base_url" in msg


def test_header_and_key_values_that_would_break_the_request_head() -> None:
    # an env value with a line break would let it add headers of its own to every upstream request
    msg = error_of(GOOD, {"TEST_KEY": "x", "ORG": "acme\r\nx-injected: 1"})
    assert "providers.oa" in msg and "headers.x-org" in msg and "line breaks" in msg
    assert "acme" not in msg and "injected" not in msg  # the value is a secret: never echoed
    msg = error_of(GOOD, {"TEST_KEY": "k\n1"})
    assert "api_key must be ASCII" in msg and "k\n1" not in msg
    assert "is not a valid header name" in error_of(GOOD.replace("x-org:", "'x org:y':"))
    msg = error_of(GOOD.replace("https://api.example.com/v1", "ftp://api.example.com/v1"))
    assert "base_url must be an ASCII http:// or https:// URL" in msg


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config("/nonexistent/switchman.yaml")


def test_starter_config_is_simulated_without_keys() -> None:
    cfg = load_config(None, env={})
    assert cfg.simulated
    assert {m.tier for m in cfg.models.values()} == {"small", "medium", "large"}
    assert "switchman/auto" in cfg.routers


def test_starter_config_uses_real_models_with_keys() -> None:
    cfg = load_config(None, env={"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k2"})
    assert not cfg.simulated
    assert {"openai", "anthropic"} == set(cfg.providers)
    assert all(m.provider in ("openai", "anthropic") for m in cfg.models.values())


def test_config_check_cli(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    runner = CliRunner()
    result = runner.invoke(cli, ["config", "check", str(good)], env={"TEST_KEY": "x"})
    assert result.exit_code == 0, result.output
    assert "ok: 1 providers, 2 models, 1 routers" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("input_price: 0.1", "input_price: -1"))
    result = runner.invoke(cli, ["config", "check", str(bad)], env={"TEST_KEY": "x"})
    assert result.exit_code == 1
    assert "models.small.input_price" in result.output


def test_key_limits_empty_means_no_limit_set() -> None:
    from switchman.config.limits import KeyLimits

    assert KeyLimits().empty
    for name in KeyLimits.model_fields:  # a field added later must count too
        assert not KeyLimits(**{name: 1}).empty, name
