"""Whisper: weights (a CTranslate2 reader, a converter into openai-whisper, a resolver and cache),
the runtime-independent decoding engine and word timing, and the PyTorch runner.

Importing this package, its resolver and its engine loads no torch; the
names that build or run a torch model (`whisper_from_ct2`, `TorchWhisperRunner`, and
`load_whisper_model` for torch weights) import it when first used. A folder exported
for ONNX Runtime loads as an `OnnxWhisperRunner`, with no torch.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from liveinspect.backends.base import BackendOptions
from liveinspect.models.whisper.ct2 import Ct2Model, read_ct2
from liveinspect.models.whisper.engine import ChunkDecode, WhisperEngine
from liveinspect.models.whisper.options import TranscribeOptions
from liveinspect.models.whisper.runner import WhisperRunner
from liveinspect.models.whisper.timing import WordTiming
from liveinspect.models.whisper.weights import (
    PACKAGED_MODELS,
    WhisperWeights,
    ct2_model_dir,
    resolve_whisper_weights,
)

_LAZY_NAMES = {"whisper_from_ct2": "convert", "TorchWhisperRunner": "torch_runner",
                "OnnxWhisperRunner": "onnx_runner"}


def load_whisper_model(spec: str | os.PathLike | WhisperWeights | None = None, *, use_cache: bool = True,
                       backend: BackendOptions | None = None) -> Any:
    """The model for `spec` (see `resolve_whisper_weights`): an openai-whisper `Whisper` (float32,
    CPU; imports torch), or, for a folder exported for ONNX Runtime, an `OnnxWhisperRunner` (no
    torch; `backend` sets its threads and precision, default: the precision the export chose).
    Both are what `WhisperEngine` and `Transcriber` take."""
    weights = spec if isinstance(spec, WhisperWeights) else resolve_whisper_weights(spec)
    if weights.kind == "onnx":
        from liveinspect.models.whisper.onnx_runner import OnnxWhisperRunner

        return OnnxWhisperRunner(weights.config_dir, backend)
    from liveinspect.models.whisper.loading import load_whisper_model as load_torch_model

    return load_torch_model(weights, use_cache=use_cache)


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PACKAGED_MODELS",
    "ChunkDecode",
    "Ct2Model",
    "TorchWhisperRunner",
    "TranscribeOptions",
    "WhisperEngine",
    "WhisperRunner",
    "OnnxWhisperRunner",
    "WhisperWeights",
    "WordTiming",
    "ct2_model_dir",
    "load_whisper_model",
    "read_ct2",
    "resolve_whisper_weights",
    "whisper_from_ct2",
]
