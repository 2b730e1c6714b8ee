"""Batched Whisper decoding over openai-whisper's model: one code path for CPU and CUDA.

A batch of <= 30 s chunks is encoded once; openai-whisper's `DecodingTask`
then decodes the whole batch together (greedy or beam search, KV cache,
per-chunk language identification) from those encoder features. Chunks that
fail the quality thresholds are decoded again at the next temperature, only
those chunks, reusing their features. Text is never conditioned on earlier
chunks, which is what lets a loop or a hallucination spread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
from whisper.audio import N_SAMPLES, log_mel_spectrogram, pad_or_trim
from whisper.decoding import DecodingOptions, DecodingResult, DecodingTask
from whisper.model import LayerNorm, Whisper
from whisper.tokenizer import Tokenizer, get_tokenizer
from whisper.utils import compression_ratio

from liveinspect.pipelines.asr.filters import RepetitionCutoff, cut_repetition
from liveinspect.pipelines.asr.options import TranscribeOptions


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 2 << 30


def auto_batch_size(model: Whisper, device: torch.device, beam_size: int | None) -> int:
    """Chunks per batch that fit in half the free memory, by a per-chunk estimate of the peak."""
    d = model.dims
    item_bytes = 2 if device.type == "cuda" else 4
    encoder = d.n_audio_ctx * (24 * d.n_audio_state + 2 * d.n_audio_head * d.n_audio_ctx)
    cross_cache = 2 * d.n_text_layer * d.n_audio_ctx * d.n_text_state * max(beam_size or 1, 1)
    per_chunk = (encoder + cross_cache) * item_bytes
    fits = int(_free_memory(device) * 0.5 // per_chunk)
    # On CPU the matrix products stop gaining from wider batches long before memory runs out.
    cap = 64 if device.type == "cuda" else 16
    return max(1, min(cap, fits))


class GroupedDecodingTask(DecodingTask):
    """openai-whisper's `DecodingTask` for batches of several audios with beam search or best-of-n.

    openai-whisper (20250625) repeats the tokens once per beam/sample but no longer the audio
    features, so any batch of more than one audio with beam_size or best_of fails. Repeating the
    features here, and identifying the language on one copy per audio, restores it.
    """

    def _get_audio_features(self, mel: torch.Tensor) -> torch.Tensor:
        features = super()._get_audio_features(mel)
        return features.repeat_interleave(self.n_group, dim=0) if self.n_group > 1 else features

    def _detect_language(self, audio_features: torch.Tensor, tokens: torch.Tensor):
        return super()._detect_language(audio_features[:: self.n_group], tokens)


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
    """An openai-whisper model on one device, decoding batches of audio chunks."""

    def __init__(self, model: Whisper, *, device: str | torch.device | None = None,
                 options: TranscribeOptions = TranscribeOptions()) -> None:
        self.device = pick_device(device)
        self.fp16 = self.device.type == "cuda"
        self.model = self._prepare(model)
        if not self.model.is_multilingual and options.language not in (None, "en"):
            raise ValueError(f"this Whisper model is English-only; cannot transcribe {options.language!r}")
        self.options = options
        self.batch_size = options.batch_size or auto_batch_size(self.model, self.device, options.beam_size)

    def _prepare(self, model: Whisper) -> Whisper:
        model = model.to(self.device).eval()
        if self.fp16:
            # Half weights, except layer norms, which openai-whisper computes in float32.
            model.half()
            for module in model.modules():
                if isinstance(module, LayerNorm):
                    module.float()
        return model

    def tokenizer(self, language: str | None) -> Tokenizer:
        return get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                             language=language or "en", task=self.options.task)

    @torch.no_grad()
    def encode(self, audios: list[np.ndarray]) -> torch.Tensor:
        """Encoder features for chunks of at most 30 s, each zero-padded to the 30 s window."""
        mels = [log_mel_spectrogram(pad_or_trim(torch.from_numpy(np.asarray(a, np.float32)).to(self.device),
                                                N_SAMPLES), self.model.dims.n_mels)
                for a in audios]
        mel = torch.stack(mels).to(torch.float16 if self.fp16 else torch.float32)
        return self.model.encoder(mel)

    def _run_task(self, features: torch.Tensor, temperature: float) -> list[DecodingResult]:
        o = self.options
        language = o.language if self.model.is_multilingual else "en"
        sampling = temperature > 0
        decoding = DecodingOptions(
            task=o.task, language=language, temperature=temperature,
            beam_size=None if sampling else o.beam_size, best_of=o.best_of if sampling else None,
            without_timestamps=True, fp16=self.fp16,
        )
        task = GroupedDecodingTask(self.model, decoding)
        task.logit_filters.append(RepetitionCutoff(task.tokenizer.eot, task.sample_begin))
        return task.run(features)

    def _failed(self, result: DecodingResult) -> bool:
        o = self.options
        if self._silent(result):
            return False  # silence is an answer, not a failure to retry
        return (result.compression_ratio > o.compression_ratio_threshold
                or result.avg_logprob < o.logprob_threshold)

    def _silent(self, result: DecodingResult) -> bool:
        o = self.options
        return result.no_speech_prob > o.no_speech_threshold and result.avg_logprob < o.logprob_threshold

    def decode(self, features: torch.Tensor) -> list[ChunkDecode]:
        """Decode every chunk, falling back to higher temperatures only for the chunks that failed."""
        best: list[DecodingResult | None] = [None] * features.shape[0]
        pending = list(range(features.shape[0]))
        for temperature in self.options.temperatures:
            if not pending:
                break
            results = self._run_task(features[pending], temperature)
            still = []
            for index, result in zip(pending, results, strict=True):
                result = replace(result, temperature=temperature)
                if best[index] is None or self._better(result, best[index]):
                    best[index] = result
                if self._failed(result):
                    still.append(index)
            pending = still
        return [self._accept(result) for result in best]

    def _better(self, new: DecodingResult, old: DecodingResult) -> bool:
        """Prefer a decode that passes the repetition test, then the more probable one."""
        limit = self.options.compression_ratio_threshold
        new_ok, old_ok = new.compression_ratio <= limit, old.compression_ratio <= limit
        if new_ok != old_ok:
            return new_ok
        return new.avg_logprob > old.avg_logprob

    def _accept(self, result: DecodingResult) -> ChunkDecode:
        silent = self._silent(result)
        tokens = [] if silent else cut_repetition(result.tokens)
        tokenizer = self.tokenizer(result.language)
        text = tokenizer.decode(tokens).strip()
        return ChunkDecode(language=result.language, tokens=tokens, text=text,
                           avg_logprob=float(result.avg_logprob), no_speech_prob=float(result.no_speech_prob),
                           compression_ratio=compression_ratio(text) if text else 0.0,
                           temperature=float(result.temperature), silent=silent)
