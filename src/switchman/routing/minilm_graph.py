"""The all-MiniLM-L6-v2 BERT encoder as an ONNX graph, built from its safetensors weights (no torch).

:func:`build_minilm_graph` turns the weight tensors (names as in the Hugging Face ``BertModel``
checkpoint) into an opset-17 ``onnx.ModelProto`` of standard operators that computes exactly what the numpy
forward pass in ``routing/embed.py`` computes: word + position + token-type-0 embeddings, LayerNorm, per
layer one fused Q/K/V projection (the 1/√head_dim attention scale folded into Q), scaled dot-product
attention with an additive mask bias, Softmax, the output projection, residual + LayerNorm, the erf GELU
feed-forward, residual + LayerNorm, and mean pooling over the attention mask. Inputs: ``input_ids``
(int64, ``[batch, seq]``) and ``attention_mask`` (float32, 1 for tokens, 0 for padding); output:
``embedding`` (float32, ``[batch, hidden]``, not normalised).

The tests check this float32 graph against the numpy pass; the int8 graph that is run
(``routing/minilm_qgraph.py``) reuses :class:`GraphBuilder`. Pure: no file or network I/O (the caller reads
the weights and decides where the model goes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import onnx

__all__ = ["INPUTS", "OUTPUT", "GraphBuilder", "build_minilm_graph", "tensor_f32"]

INPUTS = ("input_ids", "attention_mask")
OUTPUT = "embedding"
#: Additive attention bias of padded positions (as Hugging Face BERT; exp(-1e4) is 0 in float32).
MASK_BIAS = -1e4


class GraphBuilder:
    """Nodes and initialisers being collected (each node's single output is named after it; ``domain``
    names an operator set other than the standard one, e.g. ``com.microsoft``)."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: npt.ArrayLike, dtype: type[np.generic] = np.float32) -> str:
        arr = np.asarray(value, dtype=dtype)
        self.inits.append(self._numpy_helper.from_array(np.ascontiguousarray(arr) if arr.ndim else arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, domain: str = "", **attrs: Any) -> str:
        self.nodes.append(self._helper.make_node(op_type, inputs, [name], name=name, domain=domain, **attrs))
        return name

    def multi(self, op_type: str, inputs: list[str], names: list[str], **attrs: Any) -> list[str]:
        """A node with several outputs, named ``names`` (the node takes the first one's name)."""
        self.nodes.append(self._helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names

    def split(self, x: str, sizes: str, names: list[str]) -> list[str]:
        """``x`` cut along its last axis into the pieces ``sizes`` (an int64 initialiser) names."""
        node = self._helper.make_node("Split", [x, sizes], names, name=names[0] + "_split", axis=-1)
        self.nodes.append(node)
        return names


def tensor_f32(w: Mapping[str, npt.NDArray[Any]], key: str) -> npt.NDArray[np.float32]:
    """The checkpoint tensor ``key`` as float32."""
    return np.asarray(w[key], dtype=np.float32)


def build_minilm_graph(
    weights: Mapping[str, npt.NDArray[Any]], *, heads: int = 12, eps: float = 1e-12
) -> onnx.ModelProto:
    """The encoder + mean pooling as an ONNX model (see the module doc); ``weights`` are not modified."""
    from onnx import TensorProto, checker, helper

    g = GraphBuilder()
    word = tensor_f32(weights, "embeddings.word_embeddings.weight")
    dim = word.shape[1]
    head_dim = dim // heads
    layers = 1 + max(int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer."))
    g.const("word", word)
    token_type0 = tensor_f32(weights, "embeddings.token_type_embeddings.weight")[0]
    g.const("position", tensor_f32(weights, "embeddings.position_embeddings.weight") + token_type0)
    for i in (0, 1, 2):
        g.const(f"axis{i}", [i], np.int64)
    g.const("heads_shape", [0, 0, heads, head_dim], np.int64)
    g.const("hidden_shape", [0, 0, dim], np.int64)
    g.const("one", 1.0)
    g.const("half", 0.5)
    g.const("sqrt2", np.sqrt(2.0))
    g.const("mask_bias_value", MASK_BIAS)
    g.const("tiny", 1e-9)

    def layer_norm(x: str, prefix: str, name: str) -> str:
        gamma = g.const(name + "_gamma", tensor_f32(weights, prefix + ".weight"))
        beta = g.const(name + "_beta", tensor_f32(weights, prefix + ".bias"))
        return g.op("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=eps)

    def linear(x: str, prefix: str, name: str) -> str:
        w = g.const(name + "_w", tensor_f32(weights, prefix + ".weight").T)  # stored (out, in)
        b = g.const(name + "_b", tensor_f32(weights, prefix + ".bias"))
        return g.op("Add", [g.op("MatMul", [x, w], name + "_mm"), b], name)

    def qkv(x: str, prefix: str, name: str, scale: float) -> list[str]:
        """Q (scaled), K and V from one (dim, 3·dim) projection: one int8 GEMM instead of three."""
        parts = [(prefix + t, scale if t == "query" else 1.0) for t in ("query", "key", "value")]
        w = np.hstack([tensor_f32(weights, key + ".weight").T * s for key, s in parts])
        b = np.concatenate([tensor_f32(weights, key + ".bias") * s for key, s in parts])
        mm = g.op("MatMul", [x, g.const(name + "qkv_w", w)], name + "qkv_mm")
        fused = g.op("Add", [mm, g.const(name + "qkv_b", b)], name + "qkv")
        return g.split(fused, "split3", [name + t for t in ("q", "k", "v")])

    g.const("split3", [dim, dim, dim], np.int64)
    seq = g.op("Slice", [g.op("Shape", ["input_ids"], "ids_shape"), "axis1", "axis2"], "seq_len")
    positions = g.op("Slice", ["position", "axis0", seq, "axis0"], "positions")
    x = g.op("Add", [g.op("Gather", ["word", "input_ids"], "tokens"), positions], "embedded")
    x = layer_norm(x, "embeddings.LayerNorm", "x_emb")
    padding = g.op("Sub", ["one", "attention_mask"], "padding")
    bias = g.op("Mul", [padding, "mask_bias_value"], "mask_bias_2d")
    bias = g.op("Unsqueeze", [bias, g.const("axes12", [1, 2], np.int64)], "mask_bias")
    scale = 1.0 / float(np.sqrt(head_dim))
    for i in range(layers):
        p, n = f"encoder.layer.{i}.", f"l{i}_"
        q, k, v = qkv(x, p + "attention.self.", n, scale)
        qh = g.op("Transpose", [g.op("Reshape", [q, "heads_shape"], n + "q4")], n + "qh", perm=[0, 2, 1, 3])
        kt = g.op("Transpose", [g.op("Reshape", [k, "heads_shape"], n + "k4")], n + "kt", perm=[0, 2, 3, 1])
        vh = g.op("Transpose", [g.op("Reshape", [v, "heads_shape"], n + "v4")], n + "vh", perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("MatMul", [qh, kt], n + "qk"), bias], n + "scores")
        probs = g.op("Softmax", [scores], n + "probs", axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, vh], n + "ctx4")], n + "ctx_t", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, "hidden_shape"], n + "ctx")
        attn = linear(ctx, p + "attention.output.dense", n + "attn")
        x = layer_norm(g.op("Add", [x, attn], n + "res1"), p + "attention.output.LayerNorm", n + "x1")
        h = linear(x, p + "intermediate.dense", n + "ff1")
        erf = g.op("Erf", [g.op("Div", [h, "sqrt2"], n + "gelu_in")], n + "gelu_erf")
        gelu_x = g.op("Mul", [h, g.op("Add", [erf, "one"], n + "gelu_1")], n + "gelu_x")
        gelu = g.op("Mul", [gelu_x, "half"], n + "gelu")  # BERT's exact (erf) GELU
        out = linear(gelu, p + "output.dense", n + "ff2")
        x = layer_norm(g.op("Add", [x, out], n + "res2"), p + "output.LayerNorm", n + "x2")
    mask = g.op("Unsqueeze", ["attention_mask", "axis2"], "mask3")
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask], "masked"), "axis1"], "summed", keepdims=0)
    count = g.op("ReduceSum", [mask, "axis1"], "count", keepdims=0)
    g.op("Div", [summed, g.op("Max", [count, "tiny"], "count_safe")], OUTPUT)
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", dim])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="switchman")
    model.ir_version = 8  # readable by every onnxruntime that runs opset 17
    checker.check_model(model)
    return model
