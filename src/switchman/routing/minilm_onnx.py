"""all-MiniLM-L6-v2 on ONNX Runtime, int8: the graph built from the shipped weights, cached.

The first time a process asks for it on a machine, :func:`int8_model` builds the int8 encoder graph from
the safetensors weights (``routing/minilm_qgraph.py``: int8 weights per output column, activations
quantised per call, ONNX Runtime's fused ``QAttention`` and ``DynamicQuantizeMatMul`` operators; no torch)
and writes it to ``<cache_dir>/minilm-int8-<key>.onnx`` atomically (a temporary file in the same
directory, then a rename), so gateway workers starting together never read a half-written file. ``key``
hashes the weights file, :data:`BUILDER_VERSION` and the onnxruntime version: new weights or a new builder
give a new file. Building takes a few seconds and needs no network. When the cache directory cannot be
written, the model is used from memory.

:class:`OnnxMiniLM` runs it with one intra-op thread and sequential execution (a gateway worker is one
thread; the other cores belong to the other workers), one text per call. This is load-time I/O only:
``run`` is pure CPU.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from switchman.errors import EmbedderUnavailable
from switchman.routing.model_cache import model_cache_dir

__all__ = ["BUILDER_VERSION", "OnnxMiniLM", "default_cache_dir", "int8_model", "onnx_available"]

#: Bump when the graph or the quantisation changes: cached files of older versions are not reused.
BUILDER_VERSION = 3
_PREFIX = "minilm-int8-"
#: onnxruntime fusions that make this model slower on one thread: its SkipLayerNormalization kernel loses
#: to Add + LayerNormalization (x86-64 with AVX-512, 64 tokens: ~120 µs against ~25 µs a call).
_SLOWER_FUSIONS = ["SkipLayerNormFusion", "GeluFusion", "BiasGeluFusion"]


def onnx_available() -> bool:
    """Whether ``onnx`` and ``onnxruntime`` import (call it only when about to use them: it imports both)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_cache_dir() -> Path:
    """Where built models are kept between processes (``routing/model_cache.py``; by default
    ``~/.cache/switchman``)."""
    return model_cache_dir()


def cache_key(weights_file: Path) -> str:
    """Hash of the weights file, the builder version and the onnxruntime version (16 hex digits)."""
    import onnxruntime

    digest = hashlib.sha256(f"{BUILDER_VERSION}:{onnxruntime.__version__}:".encode())
    with weights_file.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _build(weights: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """The serialised int8 model."""
    from switchman.routing.minilm_qgraph import build_minilm_int8_graph

    data: bytes = build_minilm_int8_graph(weights).SerializeToString()
    return data


def int8_model(
    weights: Callable[[], Mapping[str, npt.NDArray[Any]]], weights_file: Path, cache_dir: Path | None = None
) -> Path | bytes:
    """The int8 model: the cached file's path (built and written first if missing), or the model's
    bytes when ``cache_dir`` cannot be written. ``weights`` loads the tensors of ``weights_file``; it is
    called only to build."""
    root = default_cache_dir() if cache_dir is None else cache_dir
    target = root / f"{_PREFIX}{cache_key(weights_file)}.onnx"
    if target.is_file():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=root)
    except OSError:
        return _build(weights())
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_build(weights()))
        tmp_path.chmod(0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


class OnnxMiniLM:
    """An onnxruntime session of the int8 model: ``(ids, mask) → mean-pooled (batch, 384)`` float32.

    The model takes one unpadded text (``routing/minilm_qgraph.py``): each row of a batch is run alone,
    cut to its tokens (``mask`` 1 for tokens, 0 for right padding), so a text's embedding never depends on
    its neighbours."""

    def __init__(self, model: Path | bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are not for users
        source = str(model) if isinstance(model, Path) else model
        try:
            self._session = ort.InferenceSession(
                source, options, providers=["CPUExecutionProvider"], disabled_optimizers=_SLOWER_FUSIONS
            )
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise EmbedderUnavailable(f"cannot load the MiniLM ONNX model ({model!s:.200}): {exc}") from exc
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = np.zeros((ids.shape[0], self.dim), dtype=np.float32)
        for row, length in enumerate(np.count_nonzero(mask, axis=1)):
            if length:
                out[row] = self._session.run(["embedding"], {"input_ids": ids[row : row + 1, :length]})[0][0]
        return out
