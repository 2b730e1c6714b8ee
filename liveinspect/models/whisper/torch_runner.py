"""`TorchWhisperRunner`: the `WhisperRunner` over openai-whisper's PyTorch model, on CPU or CUDA.

Encoding: a batch of <= 30 s chunks becomes one log-mel batch and one
encoder pass. Decoding: openai-whisper's `DecodingTask` decodes the chosen
rows of the batch together (greedy or beam search, KV cache, per-chunk
language identification) from those features, which stay on the device.
Alignment: the text decoder runs once over every chunk's decoded tokens
(right-padded: the causal mask keeps padding from touching real positions)
and only the alignment heads' cross-attention is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from whisper.audio import N_SAMPLES, log_mel_spectrogram, pad_or_trim
from whisper.decoding import DecodingOptions, DecodingResult, DecodingTask, LogitFilter
from whisper.model import LayerNorm, Whisper, disable_sdpa
from whisper.timing import median_filter
from whisper.tokenizer import Tokenizer, get_tokenizer

from liveinspect.backends.torch import torch_device
from liveinspect.models.whisper.repetition import loop_period
from liveinspect.models.whisper.runner import AlignmentRequest, DecodedTokens, DecodeRequest, alignment_batch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    return torch_device(device)


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


class RepetitionCutoff(LogitFilter):
    """Ends a sequence (forces end-of-text) once its tail has become a repetition loop.

    Without it one looping chunk keeps the whole batch decoding to the token
    limit; the loop itself is trimmed afterwards by `cut_repetition`.
    """

    def __init__(self, eot: int, sample_begin: int, *, max_period: int = 16, min_repeats: int = 4,
                 min_tokens: int = 16) -> None:
        self.eot = eot
        self.sample_begin = sample_begin
        self.params = (max_period, min_repeats, min_tokens)

    def apply(self, logits: torch.Tensor, tokens: torch.Tensor) -> None:
        if tokens.shape[1] - self.sample_begin < self.params[2]:
            return
        rows = tokens[:, self.sample_begin:].tolist()
        for row, sampled in enumerate(rows):
            if sampled and sampled[-1] != self.eot and loop_period(sampled, *self.params) is not None:
                logits[row, :] = -float("inf")
                logits[row, self.eot] = 0.0


class TorchWhisperRunner:
    """An openai-whisper model on one device; half precision on CUDA."""

    kind = "torch"

    def __init__(self, model: Whisper, *, device: str | torch.device | None = None) -> None:
        self.device = pick_device(device)
        self.fp16 = self.device.type == "cuda"
        self.model = self._prepare(model)
        self.is_multilingual = self.model.is_multilingual

    def _prepare(self, model: Whisper) -> Whisper:
        model = model.to(self.device).eval()
        if self.fp16:
            # Half weights, except layer norms, which openai-whisper computes in float32.
            model.half()
            for module in model.modules():
                if isinstance(module, LayerNorm):
                    module.float()
        return model

    def tokenizer(self, language: str | None, task: str) -> Tokenizer:
        return get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                             language=language or "en", task=task)

    def default_batch_size(self, beam_size: int | None) -> int:
        return auto_batch_size(self.model, self.device, beam_size)

    @torch.no_grad()
    def encode(self, audios: Sequence[np.ndarray]) -> torch.Tensor:
        mels = [log_mel_spectrogram(pad_or_trim(torch.from_numpy(np.asarray(a, np.float32)).to(self.device),
                                                N_SAMPLES), self.model.dims.n_mels)
                for a in audios]
        mel = torch.stack(mels).to(torch.float16 if self.fp16 else torch.float32)
        return self.model.encoder(mel)

    def decode(self, features: torch.Tensor, rows: Sequence[int],
               request: DecodeRequest) -> list[DecodedTokens]:
        decoding = DecodingOptions(
            task=request.task, language=request.language, temperature=request.temperature,
            beam_size=request.beam_size, best_of=request.best_of, without_timestamps=True, fp16=self.fp16)
        task = GroupedDecodingTask(self.model, decoding)
        task.logit_filters.append(RepetitionCutoff(task.tokenizer.eot, task.sample_begin))
        selected = features if list(rows) == list(range(len(features))) else features[list(rows)]
        return [_decoded(result) for result in task.run(selected)]

    @torch.no_grad()
    def alignment_matrices(self, features: torch.Tensor, requests: Sequence[AlignmentRequest], *,
                           medfilt_width: int = 7, qk_scale: float = 1.0) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(requests)
        batch = alignment_batch(self, requests)
        if not batch.requests:
            return results
        tokens = torch.from_numpy(batch.tokens).to(features.device)

        heads = _heads_by_layer(self.model)
        captured: dict[int, torch.Tensor] = {}

        def hook(layer: int):
            # Keep only the alignment heads: the full attention of every layer would not fit a big batch.
            return lambda _module, _inputs, outputs: captured.__setitem__(
                layer, outputs[-1][:, heads[layer]].float())

        blocks = self.model.decoder.blocks
        handles = [blocks[layer].cross_attn.register_forward_hook(hook(layer)) for layer in heads]
        try:
            with disable_sdpa():
                _decoder_blocks(self.model, tokens, features[batch.requests], last_layer=max(heads))
        finally:
            for handle in handles:
                handle.remove()
        weights_all = torch.cat([captured[layer] for layer in sorted(heads)], dim=1)  # (B, heads, T, frames)

        for row, index in enumerate(batch.requests):
            weights = weights_all[row, :, :batch.lengths[row], : requests[index].num_frames // 2]
            weights = (weights * qk_scale).softmax(dim=-1)
            std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
            weights = median_filter((weights - mean) / std, medfilt_width)
            results[index] = weights.mean(dim=0)[batch.text_starts[row] - 1: -1].double().cpu().numpy()
        return results


def _decoded(result: DecodingResult) -> DecodedTokens:
    return DecodedTokens(language=result.language, tokens=list(result.tokens), text=result.text,
                         avg_logprob=float(result.avg_logprob), no_speech_prob=float(result.no_speech_prob),
                         compression_ratio=float(result.compression_ratio))


def _heads_by_layer(model: Whisper) -> dict[int, list[int]]:
    layers: dict[int, list[int]] = {}
    for layer, head in model.alignment_heads.to_dense().nonzero().tolist():
        layers.setdefault(layer, []).append(head)
    return layers


def _decoder_blocks(model: Whisper, tokens: torch.Tensor, features: torch.Tensor, last_layer: int) -> None:
    """The text decoder up to `last_layer`, without the vocabulary projection: only the
    cross-attention weights are wanted, and the logits over 51,865 tokens at every position
    would cost more than everything else in this pass."""
    decoder = model.decoder
    x = decoder.token_embedding(tokens) + decoder.positional_embedding[: tokens.shape[-1]]
    x = x.to(features.dtype)
    for block in decoder.blocks[: last_layer + 1]:
        x = block(x, features, mask=decoder.mask)
