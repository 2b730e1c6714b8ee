"""Whisper weights: a CTranslate2 reader, a converter into openai-whisper, a resolver and cache."""

from liveinspect.models.whisper.convert import whisper_from_ct2
from liveinspect.models.whisper.ct2 import Ct2Model, read_ct2
from liveinspect.models.whisper.weights import (
    PACKAGED_MODELS,
    WhisperWeights,
    ct2_model_dir,
    load_whisper_model,
    resolve_whisper_weights,
)

__all__ = [
    "Ct2Model",
    "PACKAGED_MODELS",
    "WhisperWeights",
    "ct2_model_dir",
    "load_whisper_model",
    "read_ct2",
    "resolve_whisper_weights",
    "whisper_from_ct2",
]
