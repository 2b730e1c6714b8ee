"""Batched Whisper decoding with quality checks, the same for every runtime.

A batch of <= 30 s chunks is encoded once; the runner then decodes the
whole batch together from those features. Chunks that fail the quality
thresholds are decoded again at the next temperature, only those chunks,
reusing their features. Text is never conditioned on earlier chunks, which
is what lets a loop or a hallucination spread. The runtime sits behind
`WhisperRunner` (see `runner.py` for why it is not the plain `Backend`);
an openai-whisper model given here runs on `TorchWhisperRunner`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveinspect.models.whisper.options import TranscribeOptions
from liveinspect.models.whisper.repetition import cut_repetition
from liveinspect.models.whisper.runner import AlignmentRequest, DecodedTokens, DecodeRequest, WhisperRunner
from liveinspect.models.whisper.timing import WordTiming, words_from_alignment


def compression_ratio(text: str) -> float:
    """Bytes of `text` over bytes of its zlib compression: repeated text compresses well."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


@dataclass
class ChunkDecode:
    """The accepted decoding of one chunk."""

    language: str
    tokens: list[int]
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    silent: bool  # judged non-speech: no text kept


class WhisperEngine:
    """A Whisper model on one runtime, decoding batches of audio chunks.

    `model` is a `WhisperRunner`, or an openai-whisper `Whisper` module, which
    runs on `TorchWhisperRunner` on `device` (default: CUDA when present).
    """

    def __init__(self, model: WhisperRunner | Any, *, device: str | None = None,
                 options: TranscribeOptions = TranscribeOptions()) -> None:
        if isinstance(model, WhisperRunner):
            self.runner = model
        else:
            from liveinspect.models.whisper.torch_runner import TorchWhisperRunner

            self.runner = TorchWhisperRunner(model, device=device)
        if not self.runner.is_multilingual and options.language not in (None, "en"):
            raise ValueError(f"this Whisper model is English-only; cannot transcribe {options.language!r}")
        self.options = options
        self.batch_size = options.batch_size or self.runner.default_batch_size(options.beam_size)

    def tokenizer(self, language: str | None):
        return self.runner.tokenizer(language or "en", self.options.task)

    def encode(self, audios: Sequence[np.ndarray]) -> Any:
        """Encoder features for chunks of at most 30 s, each zero-padded to the 30 s window."""
        return self.runner.encode(list(audios))

    def _request(self, temperature: float) -> DecodeRequest:
        o = self.options
        sampling = temperature > 0
        return DecodeRequest(task=o.task, language=o.language if self.runner.is_multilingual else "en",
                             temperature=temperature, beam_size=None if sampling else o.beam_size,
                             best_of=o.best_of if sampling else None)

    def _failed(self, result: DecodedTokens) -> bool:
        o = self.options
        if self._silent(result):
            return False  # silence is an answer, not a failure to retry
        return (result.compression_ratio > o.compression_ratio_threshold
                or result.avg_logprob < o.logprob_threshold)

    def _silent(self, result: DecodedTokens) -> bool:
        o = self.options
        return result.no_speech_prob > o.no_speech_threshold and result.avg_logprob < o.logprob_threshold

    def decode(self, features: Any) -> list[ChunkDecode]:
        """Decode every chunk, falling back to higher temperatures only for the chunks that failed."""
        best: list[tuple[DecodedTokens, float] | None] = [None] * len(features)
        pending = list(range(len(features)))
        for temperature in self.options.temperatures:
            if not pending:
                break
            results = self.runner.decode(features, pending, self._request(temperature))
            still = []
            for index, result in zip(pending, results, strict=True):
                if best[index] is None or self._better(result, best[index][0]):
                    best[index] = (result, temperature)
                if self._failed(result):
                    still.append(index)
            pending = still
        return [self._accept(result, temperature) for result, temperature in best]

    def _better(self, new: DecodedTokens, old: DecodedTokens) -> bool:
        """Prefer a decode that passes the repetition test, then the more probable one."""
        limit = self.options.compression_ratio_threshold
        new_ok, old_ok = new.compression_ratio <= limit, old.compression_ratio <= limit
        if new_ok != old_ok:
            return new_ok
        return new.avg_logprob > old.avg_logprob

    def _accept(self, result: DecodedTokens, temperature: float) -> ChunkDecode:
        silent = self._silent(result)
        tokens = [] if silent else cut_repetition(result.tokens)
        text = self.tokenizer(result.language).decode(tokens).strip()
        return ChunkDecode(language=result.language, tokens=tokens, text=text,
                           avg_logprob=float(result.avg_logprob), no_speech_prob=float(result.no_speech_prob),
                           compression_ratio=compression_ratio(text) if text else 0.0,
                           temperature=float(temperature), silent=silent)

    def align(self, features: Any, decodes: Sequence[ChunkDecode],
              num_frames: Sequence[int]) -> list[list[WordTiming]]:
        """Word timings (seconds from each chunk's start) for every chunk of a batch, from one pass."""
        requests = [AlignmentRequest(d.language, self.options.task, d.tokens, frames)
                    for d, frames in zip(decodes, num_frames, strict=True)]
        matrices = self.runner.alignment_matrices(features, requests)
        return [words_from_alignment(matrix, self.tokenizer(r.language), r.text_tokens)
                if matrix is not None else []
                for matrix, r in zip(matrices, requests, strict=True)]
