"""Word timestamps for a whole batch of chunks in one decoder pass.

The method is openai-whisper's (`whisper/timing.py`): the cross-attention of
the model's alignment heads over the decoded tokens, normalised, median
filtered and aligned to audio frames by dynamic time warping. openai-whisper
runs it one 30 s window at a time; here all chunks of a batch share one
forward pass (tokens right-padded: the causal mask keeps padding from
touching real positions), and only the DTW runs per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import torch
from whisper.audio import HOP_LENGTH, SAMPLE_RATE
from whisper.model import Whisper, disable_sdpa
from whisper.timing import WordTiming, dtw, median_filter, merge_punctuations
from whisper.tokenizer import Tokenizer

TOKENS_PER_SECOND = SAMPLE_RATE / HOP_LENGTH / 2  # audio positions per second after the conv stride
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass
class AlignmentRequest:
    tokenizer: Tokenizer  # carries the chunk's language in its start-of-transcript sequence
    text_tokens: list[int]
    num_frames: int  # mel frames of real audio in the chunk


def _heads_by_layer(model: Whisper) -> dict[int, list[int]]:
    layers: dict[int, list[int]] = {}
    for layer, head in model.alignment_heads.to_dense().nonzero().tolist():
        layers.setdefault(layer, []).append(head)
    return layers


@torch.no_grad()
def align_words(model: Whisper, audio_features: torch.Tensor, requests: Sequence[AlignmentRequest],
                *, medfilt_width: int = 7, qk_scale: float = 1.0) -> list[list[WordTiming]]:
    """Word timings (seconds from the chunk start) for each request, from one batched pass."""
    active = [i for i, r in enumerate(requests) if r.text_tokens]
    results: list[list[WordTiming]] = [[] for _ in requests]
    if not active:
        return results
    sequences = [[*requests[i].tokenizer.sot_sequence, requests[i].tokenizer.no_timestamps,
                  *requests[i].text_tokens, requests[i].tokenizer.eot] for i in active]
    longest = max(map(len, sequences))
    eot = requests[active[0]].tokenizer.eot
    tokens = torch.full((len(active), longest), eot, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        tokens[row, :len(sequence)] = torch.tensor(sequence)
    tokens = tokens.to(audio_features.device)

    heads = _heads_by_layer(model)
    captured: dict[int, torch.Tensor] = {}

    def hook(layer: int):
        # Keep only the alignment heads: the full attention of every layer would not fit a big batch.
        return lambda _module, _inputs, outputs: captured.__setitem__(
            layer, outputs[-1][:, heads[layer]].float())

    handles = [model.decoder.blocks[layer].cross_attn.register_forward_hook(hook(layer)) for layer in heads]
    try:
        with disable_sdpa():
            _decoder_blocks(model, tokens, audio_features[active], last_layer=max(heads))
    finally:
        for handle in handles:
            handle.remove()
    weights_all = torch.cat([captured[layer] for layer in sorted(heads)], dim=1)  # (B, heads, T, frames)

    for row, index in enumerate(active):
        request = requests[index]
        sot_len = len(request.tokenizer.sot_sequence) + 1  # + no_timestamps
        n_tokens = len(sequences[row])
        weights = weights_all[row, :, :n_tokens, : request.num_frames // 2]
        weights = (weights * qk_scale).softmax(dim=-1)
        std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
        weights = median_filter((weights - mean) / std, medfilt_width)
        matrix = weights.mean(dim=0)[sot_len - 1: -1]
        text_indices, time_indices = dtw(-matrix.double().cpu())
        results[index] = _words_from_path(request, text_indices, time_indices)
    return results


def _decoder_blocks(model: Whisper, tokens: torch.Tensor, features: torch.Tensor, last_layer: int) -> None:
    """The text decoder up to `last_layer`, without the vocabulary projection: only the
    cross-attention weights are wanted, and the logits over 51,865 tokens at every position
    would cost more than everything else in this pass."""
    decoder = model.decoder
    x = decoder.token_embedding(tokens) + decoder.positional_embedding[: tokens.shape[-1]]
    x = x.to(features.dtype)
    for block in decoder.blocks[: last_layer + 1]:
        x = block(x, features, mask=decoder.mask)


def _words_from_path(request: AlignmentRequest, text_indices: np.ndarray,
                     time_indices: np.ndarray) -> list[WordTiming]:
    tokenizer = request.tokenizer
    words, word_tokens = tokenizer.split_to_word_tokens(request.text_tokens + [tokenizer.eot])
    if len(word_tokens) <= 1:
        return []
    # Row 0 of the DTW path is the no_timestamps token: as in openai-whisper, a word starts
    # where the path reaches the token that predicts the word's first token.
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / TOKENS_PER_SECOND
    starts = jump_times[boundaries[:-1]]
    ends = jump_times[boundaries[1:]]
    timings = [WordTiming(word, tokens, float(start), float(end), 1.0)
               for word, tokens, start, end in zip(words[:-1], word_tokens[:-1], starts, ends, strict=True)]
    merge_punctuations(timings, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
    timings = [t for t in timings if t.word]
    _shorten_words_at_pauses(timings)
    return timings


SENTENCE_END = tuple(".。!！?？")


def _shorten_words_at_pauses(timings: list[WordTiming]) -> None:
    """DTW gives the silence before a sentence to its first word and the silence after to its
    last; cap such words at twice the median word length, as openai-whisper does."""
    durations = np.array([t.end - t.start for t in timings])
    durations = durations[durations > 0]
    if len(durations) == 0:
        return
    max_duration = 2 * min(0.7, float(np.median(durations)))
    for i, timing in enumerate(timings):
        if timing.end - timing.start <= max_duration:
            continue
        after_pause = i == 0 or timings[i - 1].word.strip().endswith(SENTENCE_END)
        if after_pause:
            timing.start = timing.end - max_duration
        elif timing.word.strip().endswith(SENTENCE_END):
            timing.end = timing.start + max_duration
