"""all-MiniLM-L6-v2 on ONNX Runtime, int8: the graph built from the shipped weights, quantised, cached.

The first time a process asks for it on a machine, :func:`int8_model` builds the encoder graph from the
safetensors weights (``routing/minilm_graph.py``, no torch), quantises it with
``onnxruntime.quantization.quantize_dynamic`` (int8 weights per output channel, activations quantised per
call; MatMul and the embedding Gather) and writes it to ``<cache_dir>/minilm-int8-<key>.onnx`` atomically
(a temporary file in the same directory, then a rename), so gateway workers starting together never read a
half-written file. ``key`` hashes the weights file, :data:`BUILDER_VERSION` and the onnxruntime version: new
weights or a new builder give a new file. Building takes a few seconds and needs no network. When the
cache directory cannot be written, the model is built in a temporary directory and used from memory.

:class:`OnnxMiniLM` runs it with one intra-op thread and sequential execution (a gateway worker is one
thread; the other cores belong to the other workers). This is load-time I/O only: ``run`` is pure CPU.
"""

from __future__ import annotations

import hashlib
import logging
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
BUILDER_VERSION = 2
_PREFIX = "minilm-int8-"
#: onnxruntime fusions that made this model slower on one thread (x86-64 with AVX-512 VNNI, 32 tokens:
#: 2.76 → 2.14 ms with QKV fused too): its SkipLayerNormalization kernel loses to Add + LayerNormalization.
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


def _quantise(weights: Mapping[str, npt.NDArray[Any]], out: Path) -> None:
    """Build the float32 graph and write its int8 quantisation to ``out``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from switchman.routing.minilm_graph import build_minilm_graph

    root = logging.getLogger()
    root.addFilter(_quiet_quantiser)  # quantize_dynamic logs per-tensor notes and image-model advice on root
    try:
        quantize_dynamic(
            build_minilm_graph(weights),
            out,
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
            # activation x activation products (attention scores, context) stay float32
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(_quiet_quantiser)


def _quiet_quantiser(record: logging.LogRecord) -> bool:
    """Keep only the quantiser's real warnings (filters on the root logger see only records logged on it
    directly, as onnxruntime.quantization does; switchman's own named loggers are not affected)."""
    hint = "pre-processing before quantization" in record.getMessage()
    return record.levelno >= logging.WARNING and not hint


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
        with tempfile.TemporaryDirectory(prefix="switchman-minilm-") as tmp:
            path = Path(tmp) / "model.onnx"
            _quantise(weights(), path)
            return path.read_bytes()
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        _quantise(weights(), tmp_path)
        tmp_path.chmod(0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


class OnnxMiniLM:
    """An onnxruntime session of the int8 model: ``(ids, mask) → mean-pooled (batch, 384)`` float32."""

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

    def run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self._session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(out, dtype=np.float32)
