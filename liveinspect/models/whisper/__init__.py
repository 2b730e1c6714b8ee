"""Whisper: weights (a CTranslate2 reader, a converter into openai-whisper, a resolver and cache),
the runtime-independent decoding engine and word timing, and the PyTorch runner.

Importing this package, its resolver and its engine loads no torch; the
names that build or run a torch model (`load_whisper_model`, `whisper_from_ct2`,
`TorchWhisperRunner`) import it when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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

_TORCH_NAMES = {"load_whisper_model": "loading", "whisper_from_ct2": "convert",
                "TorchWhisperRunner": "torch_runner"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(import_module(f"{__name__}.{_TORCH_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PACKAGED_MODELS",
    "ChunkDecode",
    "Ct2Model",
    "TorchWhisperRunner",
    "TranscribeOptions",
    "WhisperEngine",
    "WhisperRunner",
    "WhisperWeights",
    "WordTiming",
    "ct2_model_dir",
    "load_whisper_model",
    "read_ct2",
    "resolve_whisper_weights",
    "whisper_from_ct2",
]
