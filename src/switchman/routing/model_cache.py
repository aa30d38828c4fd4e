"""Where routing keeps what it builds once per machine (the int8 MiniLM model, ``routing/minilm_onnx.py``).

The directory is set once per process by the CLI from the environment (``config.load.model_cache_dir``:
``$SWITCHMAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/switchman``); unset, it is ``~/.cache/switchman``.
Kept apart from ``minilm_onnx`` so that setting it imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["model_cache_dir", "set_model_cache_dir"]

_configured: Path | None = None


def set_model_cache_dir(path: Path | None) -> None:
    """Use ``path`` for built models from now on (None: the default)."""
    global _configured
    _configured = path


def model_cache_dir() -> Path:
    return _configured if _configured is not None else Path.home() / ".cache" / "switchman"
