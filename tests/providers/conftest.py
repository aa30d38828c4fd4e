"""Fixtures: a loopback fake Anthropic API and an AnthropicProvider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from fakes.anthropic_server import FakeAnthropic, Running, start
from switchman.config.model import ProviderConfig
from switchman.providers.anthropic import AnthropicProvider

ANTHROPIC_KEY = "sk-ant-fake-key-never-logged-7731"


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[Running]:
    running = await start(FakeAnthropic(api_key=ANTHROPIC_KEY))
    yield running
    await running.stop()


@pytest.fixture
async def anthropic_provider(anthropic_fake: Running) -> AsyncIterator[AnthropicProvider]:
    config = ProviderConfig(
        type="anthropic", base_url=anthropic_fake.base_url, api_key=SecretStr(ANTHROPIC_KEY)
    )
    provider = AnthropicProvider("claude", config, max_output_tokens={"claude-small": 50})
    yield provider
    await provider.aclose()
