"""all-MiniLM-L6-v2 as an int8 ONNX graph of ONNX Runtime's fused CPU operators, built from its weights.

:func:`build_minilm_int8_graph` computes what ``routing/minilm_graph.py`` computes (the float32 reference,
see there) for one text, with every linear layer in int8: weights int8 per output column (symmetric,
scale ``max|w| / 127``), activations quantised per call (uint8, asymmetric) inside the operator. Per
layer: ``DynamicQuantizeLinear`` → ``QAttention`` (the Q/K/V projection, the scaled-dot-product attention
and the head merge in one kernel), ``DynamicQuantizeMatMul`` (bias fused) for the output projection and
both feed-forward layers, ``com.microsoft.Gelu`` (erf), and ``Add`` + ``LayerNormalization``. The word
embedding table is int8 per row. ONNX Runtime runs the int8 products with its u8×s8 kernels (AMX or VNNI
where the CPU has them); the fused attention saves the ~15 reshape, transpose and elementwise nodes per
layer of the standard-operator graph (~10 % of a 64-token embedding on one core).

One text per call, unpadded: there is no attention mask (every token attends to every token) and the
embedding is the mean over all tokens. Input ``input_ids`` (int64, ``[1, seq]``); output ``embedding``
(float32, ``[1, hidden]``, not normalised). Pure: no file or network I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from switchman.routing.minilm_graph import OUTPUT, GraphBuilder, tensor_f32

if TYPE_CHECKING:
    import onnx

__all__ = ["INPUT", "OUTPUT", "build_minilm_int8_graph", "quantise_columns"]

INPUT = "input_ids"
_MS = "com.microsoft"


def quantise_columns(w: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """``w`` (in, out) as int8 with one symmetric scale per column: ``w ≈ q * scale``."""
    scale = np.maximum(np.abs(w).max(axis=0), np.float32(1e-12)) / np.float32(127.0)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def build_minilm_int8_graph(
    weights: Mapping[str, npt.NDArray[Any]], *, heads: int = 12, eps: float = 1e-12
) -> onnx.ModelProto:
    """The int8 encoder + mean pooling of one text as an ONNX model (see the module doc)."""
    from onnx import TensorProto, checker, helper

    g = GraphBuilder()
    word = tensor_f32(weights, "embeddings.word_embeddings.weight")
    dim = word.shape[1]
    layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
    word_q, word_scale = quantise_columns(word.T)  # one scale per row of the table
    g.const("word_q", word_q.T, np.int8)
    g.const("word_scale", word_scale[:, None])
    token_type0 = tensor_f32(weights, "embeddings.token_type_embeddings.weight")[0]
    g.const("position", tensor_f32(weights, "embeddings.position_embeddings.weight") + token_type0)
    for i in (0, 1, 2):
        g.const(f"axis{i}", [i], np.int64)

    def layer_norm(x: str, prefix: str, name: str) -> str:
        gamma = g.const(name + "_gamma", tensor_f32(weights, prefix + ".weight"))
        beta = g.const(name + "_beta", tensor_f32(weights, prefix + ".bias"))
        return g.op("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=eps)

    def int8_const(name: str, w: npt.NDArray[np.float32]) -> tuple[str, str]:
        q, scale = quantise_columns(w)
        return g.const(name + "_w", q, np.int8), g.const(name + "_scale", scale)

    def linear(x: str, prefix: str, name: str) -> str:
        w, scale = int8_const(name, tensor_f32(weights, prefix + ".weight").T)  # stored (out, in)
        bias = g.const(name + "_b", tensor_f32(weights, prefix + ".bias"))
        return g.op("DynamicQuantizeMatMul", [x, w, scale, "", bias], name, domain=_MS)

    def attention(x: str, prefix: str, name: str) -> str:
        keys = [prefix + t for t in ("query", "key", "value")]
        w, scale = int8_const(name + "qkv", np.hstack([tensor_f32(weights, k + ".weight").T for k in keys]))
        bias = g.const(name + "qkv_b", np.concatenate([tensor_f32(weights, k + ".bias") for k in keys]))
        xq, x_scale, x_zero = g.multi("DynamicQuantizeLinear", [x], [name + s for s in ("xq", "xs", "xz")])
        inputs = [xq, w, bias, x_scale, scale, "", x_zero]  # no mask: one unpadded text
        return g.op("QAttention", inputs, name + "ctx", domain=_MS, num_heads=heads)

    seq = g.op("Slice", [g.op("Shape", [INPUT], "ids_shape"), "axis1", "axis2"], "seq_len")
    positions = g.op("Slice", ["position", "axis0", seq, "axis0"], "positions")
    rows = g.op("Cast", [g.op("Gather", ["word_q", INPUT], "tokens_q")], "tokens_i", to=TensorProto.FLOAT)
    tokens = g.op("Mul", [rows, g.op("Gather", ["word_scale", INPUT], "tokens_scale")], "tokens")
    x = layer_norm(g.op("Add", [tokens, positions], "embedded"), "embeddings.LayerNorm", "x_emb")
    for i in range(layers):
        p, n = f"encoder.layer.{i}.", f"l{i}_"
        attn = linear(attention(x, p + "attention.self.", n), p + "attention.output.dense", n + "attn")
        x = layer_norm(g.op("Add", [x, attn], n + "res1"), p + "attention.output.LayerNorm", n + "x1")
        hidden = g.op("Gelu", [linear(x, p + "intermediate.dense", n + "ff1")], n + "gelu", domain=_MS)
        out = linear(hidden, p + "output.dense", n + "ff2")
        x = layer_norm(g.op("Add", [x, out], n + "res2"), p + "output.LayerNorm", n + "x2")
    g.op("ReduceMean", [x], OUTPUT, axes=[1], keepdims=0)
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2-int8",
        [helper.make_tensor_value_info(INPUT, TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, dim])],
        g.inits,
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(_MS, 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="switchman")
    model.ir_version = 8  # readable by every onnxruntime that runs opset 17
    checker.check_model(model)
    return model
