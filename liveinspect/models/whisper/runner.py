"""What a Whisper runtime implements for the engine: encode, one batched decode pass, alignment.

Why not the `Backend` protocol (one stateless call, named arrays in and out)?
Whisper decodes autoregressively: the text decoder runs once per output
token, with a key/value cache that grows by a step each time and has to
stay on the device between steps; beam search reorders that cache, and the
temperature fallback decodes a subset of the batch again from the same
encoder output. Behind a stateless call, either the cache and the encoder
features (1500 x 512 floats per chunk) would cross to numpy and back at every
token, or the loop would hide inside the call anyway. Word timing, too,
reads the cross-attention of a few decoder heads, which no model-level
output carries.

So the smallest interface that fits is one level up: a runner does one
batched pass of each kind and returns plain Python and numpy results. What
is judged stays in `WhisperEngine`, the same for every runtime: quality
thresholds, which chunks are decoded again at which temperature, the
repetition cut, the words from the alignment. Encoder features are an
opaque handle the runner hands back to itself (a device tensor for torch,
an array for ONNX Runtime); they never need to become numpy.

`TorchWhisperRunner` (`torch_runner.py`) implements it over openai-whisper,
whose decoding loop is exactly "decoder step with a KV cache -> logits"
(`PyTorchInference`). An ONNX Runtime runner implements the same methods
over an exported encoder and a decoder-step graph
`(tokens, features, cache) -> (logits, cache)`, with its own greedy/beam
loop in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class DecodeRequest:
    """One decoding pass: greedy (or beam search) at temperature 0, `best_of` samples above it."""

    task: str  # "transcribe" or "translate"
    language: str | None  # None: identify it per chunk
    temperature: float
    beam_size: int | None = None
    best_of: int | None = None


@dataclass
class DecodedTokens:
    """One chunk's raw decode, before the engine judges it."""

    language: str
    tokens: list[int]  # text tokens, without the start sequence and end-of-text
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float  # gzip ratio of `text`: high means repeated text


@dataclass(frozen=True)
class AlignmentRequest:
    """The decoded text of one chunk, to be placed on its audio frames."""

    language: str
    task: str
    text_tokens: list[int]
    num_frames: int  # mel frames of real audio in the chunk (the rest is padding)


@dataclass(frozen=True)
class AlignmentBatch:
    """The token rows of an alignment pass, for the requests that have text."""

    requests: list[int]  # indices of those requests
    tokens: np.ndarray  # (rows, longest) int64: sot sequence, no-timestamps, text, end-of-text
    lengths: list[int]  # real tokens per row (the rest is end-of-text padding)
    text_starts: list[int]  # tokens before the text per row (sot sequence + no-timestamps)


def alignment_batch(runner: "WhisperRunner", requests: Sequence[AlignmentRequest]) -> AlignmentBatch:
    """Rows right-padded with end-of-text: the causal mask keeps padding away from real positions."""
    active = [i for i, r in enumerate(requests) if r.text_tokens]
    tokenizers = [runner.tokenizer(requests[i].language, requests[i].task) for i in active]
    sequences = [[*t.sot_sequence, t.no_timestamps, *requests[i].text_tokens, t.eot]
                 for t, i in zip(tokenizers, active, strict=True)]
    tokens = np.full((len(active), max(map(len, sequences), default=0)),
                     tokenizers[0].eot if active else 0, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, :len(sequence)] = sequence
    return AlignmentBatch(active, tokens, [len(s) for s in sequences],
                          [len(t.sot_sequence) + 1 for t in tokenizers])


@runtime_checkable
class WhisperRunner(Protocol):
    """A Whisper model on one runtime; see the module docstring.

    `tokenizer(language, task)` returns an openai-whisper `Tokenizer` (or an
    object with its `decode`, `split_to_word_tokens`, `sot_sequence`,
    `no_timestamps` and `eot`).
    """

    kind: str
    is_multilingual: bool

    def tokenizer(self, language: str | None, task: str) -> Any: ...

    def default_batch_size(self, beam_size: int | None) -> int:
        """Chunks per batch that fit this runtime's memory."""
        ...

    def encode(self, audios: Sequence[np.ndarray]) -> Any:
        """Encoder features for 16 kHz chunks of at most 30 s; `len()` is the number of chunks."""
        ...

    def decode(self, features: Any, rows: Sequence[int], request: DecodeRequest) -> list[DecodedTokens]:
        """Decode the chunks `rows` of `features` together, one result per row, in order."""
        ...

    def alignment_matrices(self, features: Any,
                           requests: Sequence[AlignmentRequest]) -> list[np.ndarray | None]:
        """Per chunk (one request per chunk of `features`), the float64 matrix
        (text tokens + 1, real frames / 2) that word timing aligns by dynamic time warping:
        the alignment heads' cross-attention over the tokens sot..last text token, softmaxed
        over frames, standardised per frame, median filtered along time and averaged over
        heads (openai-whisper's method). None for a request without text tokens."""
        ...
