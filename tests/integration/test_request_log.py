"""The per-request JSON log line of a real ``switchman serve``: one line per request, with the call record
and the routing explanation, never a secret or a body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from helpers import SECRET, SIM_MODELS, gateway_config, start_gateway, start_sim

PROMPT = "Name one prime number larger than ten, please."


def request_lines(text: str) -> dict[str, dict[str, Any]]:
    out = {}
    for line in text.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("msg") == "request":
                out[entry["request_id"]] = entry
    return out


def test_one_json_line_per_request_with_the_decision(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, SIM_MODELS)
    gw = start_gateway(
        tmp_path, gateway_config(sim.url, "ledger: {enabled: false}\n"), env={"SIM_API_KEY": SECRET}
    )
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="client-key-not-logged", max_retries=0)
        plain = client.chat.completions.with_raw_response.create(
            model="switchman/auto", messages=[{"role": "user", "content": PROMPT}]
        )
        with client.chat.completions.with_streaming_response.create(
            model="big", messages=[{"role": "user", "content": PROMPT}], stream=True
        ) as streamed:
            for _ in streamed.iter_lines():
                pass
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    finally:
        gw.stop()  # the batching handler writes what is left at exit
        sim.stop()
    text = gw.log_text()
    lines = request_lines(text)
    assert len(lines) == 3, text
    first = lines[plain.headers["x-switchman-request-id"]]
    assert first["level"] == "info" and first["logger"] == "switchman.request"
    assert first["ts"].endswith("Z") and len(first["ts"]) == len("2026-01-01T00:00:00.000Z")
    assert first["call"]["model"] == "tiny" and first["call"]["status"] == 200
    assert first["call"]["input_tokens"] > 0 and first["call"]["cost_usd"] > 0
    decision = first["decision"]
    assert decision["router"] == "switchman/auto" and decision["model"] == "tiny"
    assert decision["route"] == plain.headers["x-switchman-route"]
    assert [c["model"] for c in decision["candidates"]] == ["tiny", "big"]
    second = lines[streamed.headers["x-switchman-request-id"]]
    assert second["call"]["stream"] is True and second["call"]["model"] == "big"
    assert second["decision"]["router"] == "explicit"
    (refused,) = (e for e in lines.values() if e["call"]["status"] == 404)
    assert refused["call"]["error"] == "ModelNotFound" and "decision" not in refused
    for secret in (SECRET, "client-key-not-logged", PROMPT):
        assert secret not in text
