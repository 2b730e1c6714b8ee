"""`OnnxWhisperRunner`: the `WhisperRunner` over an exported Whisper on ONNX Runtime (numpy, no torch).

The folder is what `liveinspect export --models whisper` writes (see
`liveinspect/export/whisper.py` for the three graphs): `encoder.onnx` turns
a log-mel batch into every decoder layer's cross-attention keys and values;
`decoder.onnx` is one decoder call with its self-attention cache in and the
grown cache out; `alignment.onnx` gives the alignment heads' raw
cross-attention for word timing. `whisper.json` holds the dimensions and
heads, `tokenizer.json` + `vocab.tiktoken` the token table, `mel_filters.npy`
the front end's filter bank. `precision="int8"` opens the `.int8.onnx` twins.

Decoding does what openai-whisper's `DecodingTask` does without timestamps,
in numpy: the start sequence, the language identified from the logits at
the start token (every language token but the best masked), the no-speech
probability from the same logits, the blank and non-speech suppression, the
repetition cut-off, then greedy, best-of-n sampling or beam search, ranked
by sum log-probability over length. Two things are cheaper here: the start
token is decoded on its own first, so language identification is the first
step of decoding rather than a separate pass; and rows that have ended are
dropped from the batch (once enough have ended to pay for the copy).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.backends.base import BackendOptions, precision_variant
from liveinspect.errors import CheckpointError, LiveInspectError
from liveinspect.models.whisper.dtw import median_filter
from liveinspect.models.whisper.engine import compression_ratio
from liveinspect.models.whisper.mel import load_mel_filters, log_mel_spectrogram
from liveinspect.models.whisper.repetition import loop_period
from liveinspect.models.whisper.runner import AlignmentRequest, DecodedTokens, DecodeRequest, alignment_batch
from liveinspect.models.whisper.vocab import WhisperTokenizer, WhisperVocabulary

CONFIG_FILE = "whisper.json"
CONFIG_FORMAT = "liveinspect-whisper-onnx/1"
GRAPHS = ("encoder", "decoder", "alignment")
EXPORT_HINT = ("export it where torch is installed: `liveinspect export --models whisper --out DIR` "
               "(add --int8 for the quantized twins)")


def is_onnx_whisper_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / CONFIG_FILE).is_file() and (path / "encoder.onnx").is_file()


@dataclass
class OnnxFeatures:
    """Encoder output of a batch of chunks: each decoder layer's cross keys and values."""

    keys: list[np.ndarray]  # per layer (chunks, heads, head_dim, frames)
    values: list[np.ndarray]  # per layer (chunks, heads, frames, head_dim)

    def __len__(self) -> int:
        return len(self.keys[0])

    def take(self, rows: Sequence[int] | np.ndarray, repeat: int = 1) -> OnnxFeatures:
        rows = np.asarray(rows, dtype=np.int64)
        if repeat > 1:
            rows = np.repeat(rows, repeat)
        if len(rows) == len(self) and np.array_equal(rows, np.arange(len(self))):
            return self
        return OnnxFeatures([k[rows] for k in self.keys], [v[rows] for v in self.values])


class _Cache:
    """The self-attention cache of the rows being decoded, per layer."""

    def __init__(self, keys: list[np.ndarray], values: list[np.ndarray]) -> None:
        self.keys, self.values = keys, values

    @classmethod
    def empty(cls, rows: int, layers: int, heads: int, head_dim: int) -> _Cache:
        return cls([np.zeros((rows, heads, head_dim, 0), np.float32) for _ in range(layers)],
                   [np.zeros((rows, heads, 0, head_dim), np.float32) for _ in range(layers)])

    def take(self, rows: np.ndarray) -> _Cache:
        return _Cache([k[rows] for k in self.keys], [v[rows] for v in self.values])


class OnnxWhisperRunner:
    """An exported Whisper on ONNX Runtime; see the module docstring. Thread-safe."""

    kind = "onnx"

    def __init__(self, folder: str | Path, options: BackendOptions | None = None, *,
                 encoder_batch: int = 2) -> None:
        from liveinspect.backends.onnx import OnnxBackend

        self.folder = Path(folder)
        config_path = self.folder / CONFIG_FILE
        if not config_path.is_file():
            raise CheckpointError(f"{self.folder} holds no exported Whisper ({CONFIG_FILE} is missing); "
                                  f"{EXPORT_HINT}")
        self.config = json.loads(config_path.read_text(encoding="utf-8"))
        if self.config.get("format") != CONFIG_FORMAT:
            raise CheckpointError(f"{config_path}: format {self.config.get('format')!r}, expected "
                                  f"{CONFIG_FORMAT!r}; {EXPORT_HINT}")
        # Without options: the precision the export accepted within its accuracy budget.
        options = options or BackendOptions(kind="onnx", precision=self.config.get("precision", "fp32"))
        if options.kind != "onnx":
            raise LiveInspectError(f"OnnxWhisperRunner got options for {options.kind!r}")
        self.options = options
        self.precision = options.precision
        self.dims = dict(self.config["dims"])
        self.name = self.config.get("name", "whisper")
        self.source_sha256 = self.config.get("source_sha256")
        self.is_multilingual = bool(self.config["multilingual"])
        self.heads = [tuple(h) for h in self.config["alignment_heads"]]
        self.vocabulary = WhisperVocabulary.load(self.folder)
        self.mel_filters = load_mel_filters(self.folder / "mel_filters.npy")
        if self.mel_filters.shape[0] != self.dims["n_mels"]:
            raise CheckpointError(f"{self.folder}: mel filters have {self.mel_filters.shape[0]} bands, the "
                                  f"model takes {self.dims['n_mels']}")
        self.sessions = {}
        for graph in GRAPHS:
            path = precision_variant(self.folder / self.config["graphs"][graph], options.precision)
            if not path.is_file():
                raise CheckpointError(f"{path} is missing; {EXPORT_HINT}")
            self.sessions[graph] = OnnxBackend(path, options).session
        self.layers = self.dims["n_text_layer"]
        self.text_heads = self.dims["n_text_head"]
        self.head_dim = self.dims["n_text_state"] // self.text_heads
        self.encoder_batch = max(1, encoder_batch)
        self._tokenizers: dict[tuple, WhisperTokenizer] = {}
        self._lock = threading.Lock()

    # -- what the engine asks ------------------------------------------------------------------

    def tokenizer(self, language: str | None, task: str) -> WhisperTokenizer:
        key = (language, task)
        with self._lock:
            if key not in self._tokenizers:
                self._tokenizers[key] = self.vocabulary.tokenizer(language or "en", task)
            return self._tokenizers[key]

    def default_batch_size(self, beam_size: int | None) -> int:
        """Chunks per batch: the decoder gains from width up to ~16 chunks on a CPU; the cross cache
        (2 x layers x frames x width floats per chunk and beam) bounds it by memory."""
        d = self.dims
        per_chunk = 2 * d["n_text_layer"] * d["n_audio_ctx"] * d["n_text_state"] * 4 * max(beam_size or 1, 1)
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            free = 2 << 30
        return max(1, min(16, int(free * 0.25 // per_chunk)))

    def encode(self, audios: Sequence[np.ndarray]) -> OnnxFeatures:
        """Cross keys and values for chunks of at most 30 s (the encoder runs a few chunks at a time:
        its attention over 1,500 frames is wide already, and memory stays small)."""
        if not len(audios):
            raise LiveInspectError("encode needs at least one chunk")
        keys: list[list[np.ndarray]] = [[] for _ in range(self.layers)]
        values: list[list[np.ndarray]] = [[] for _ in range(self.layers)]
        names = [f"cross_k_{i}" for i in range(self.layers)] + [f"cross_v_{i}" for i in range(self.layers)]
        for start in range(0, len(audios), self.encoder_batch):
            mel = np.stack([log_mel_spectrogram(a, self.mel_filters)
                            for a in audios[start:start + self.encoder_batch]])
            outputs = self.sessions["encoder"].run(names, {"mel": mel})
            for i in range(self.layers):
                keys[i].append(outputs[i])
                values[i].append(outputs[self.layers + i])
        join = (lambda parts: parts[0]) if len(keys[0]) == 1 else np.concatenate
        return OnnxFeatures([join(k) for k in keys], [join(v) for v in values])

    def decode(self, features: OnnxFeatures, rows: Sequence[int],
               request: DecodeRequest) -> list[DecodedTokens]:
        rows = list(rows)
        if not rows:
            return []
        task = _DecodeTask(self, features.take(rows), request)
        return task.run()

    def alignment_matrices(self, features: OnnxFeatures, requests: Sequence[AlignmentRequest], *,
                           medfilt_width: int = 7, qk_scale: float = 1.0) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(requests)
        batch = alignment_batch(self, requests)
        if not batch.requests:
            return results
        chosen = features.take(batch.requests)
        session = self.sessions["alignment"]
        feed = {"tokens": batch.tokens}
        wanted = {i.name for i in session.get_inputs()}
        for layer in range(self.layers):
            for name, arrays in ((f"cross_k_{layer}", chosen.keys), (f"cross_v_{layer}", chosen.values)):
                if name in wanted:
                    feed[name] = arrays[layer]
        qk = session.run(["alignment_qk"], feed)[0]  # (rows, heads, tokens, frames)
        for row, index in enumerate(batch.requests):
            weights = qk[row, :, :batch.lengths[row], : requests[index].num_frames // 2].astype(np.float64)
            weights = _softmax(weights * qk_scale)
            mean = weights.mean(axis=-2, keepdims=True)
            std = weights.std(axis=-2, keepdims=True)
            weights = median_filter((weights - mean) / std, medfilt_width)
            results[index] = weights.mean(axis=0)[batch.text_starts[row] - 1: -1].astype(np.float64)
        return results

    # -- one decoder call ---------------------------------------------------------------------

    def step(self, tokens: np.ndarray, cache: _Cache, features: OnnxFeatures) -> tuple[np.ndarray, _Cache]:
        """Logits (rows, T, vocab) for `tokens` (rows, T) after the cached positions, and the grown cache."""
        feed: dict[str, np.ndarray] = {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)}
        for layer in range(self.layers):
            feed[f"self_k_{layer}"] = cache.keys[layer]
            feed[f"self_v_{layer}"] = cache.values[layer]
            feed[f"cross_k_{layer}"] = features.keys[layer]
            feed[f"cross_v_{layer}"] = features.values[layer]
        names = ["logits"] + [f"present_k_{i}" for i in range(self.layers)] + \
            [f"present_v_{i}" for i in range(self.layers)]
        outputs = self.sessions["decoder"].run(names, feed)
        return outputs[0], _Cache(outputs[1:1 + self.layers], outputs[1 + self.layers:])


def _until(eot: int, sequence: Sequence[int]) -> list[int]:
    tokens = [int(t) for t in sequence]
    return tokens[:tokens.index(eot)] if eot in tokens else tokens


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class _DecodeTask:
    """One decoding pass over a batch of chunks (openai-whisper's DecodingTask, without timestamps)."""

    def __init__(self, runner: OnnxWhisperRunner, features: OnnxFeatures, request: DecodeRequest) -> None:
        self.runner = runner
        self.features = features
        self.request = request
        self.tokenizer = runner.tokenizer(request.language or "en", request.task)
        t = self.tokenizer
        self.initial = list(t.sot_sequence_including_notimestamps)
        self.sample_begin = len(self.initial)
        self.sample_len = runner.dims["n_text_ctx"] // 2
        self.n_ctx = runner.dims["n_text_ctx"]
        self.beam_size = request.beam_size if request.temperature == 0 else None
        self.group = self.beam_size or (request.best_of if request.temperature > 0 else None) or 1
        suppress = set(t.non_speech_tokens)
        suppress.update([t.transcribe, t.translate, t.sot, t.sot_prev, t.sot_lm])
        if t.no_speech is not None:
            suppress.add(t.no_speech)
        self.suppress = np.array(sorted(suppress), dtype=np.int64)
        self.blank = np.array([*t.blank_tokens, t.eot], dtype=np.int64)
        self.rng = np.random.default_rng()

    # -- the start sequence: language and no-speech probability from the start token's logits -----

    def _start(self) -> tuple[list[str], np.ndarray, np.ndarray, _Cache]:
        runner, t = self.runner, self.tokenizer
        n = len(self.features)
        cache = _Cache.empty(n, runner.layers, runner.text_heads, runner.head_dim)
        logits, cache = runner.step(np.full((n, 1), t.sot, np.int64), cache, self.features)
        at_sot = logits[:, 0].astype(np.float32)
        no_speech = (_softmax(at_sot.astype(np.float64))[:, t.no_speech] if t.no_speech is not None
                     else np.full(n, np.nan))
        initial = np.tile(np.array(self.initial, np.int64), (n, 1))
        languages = [self.request.language or "en"] * n
        if self.request.language is None and runner.is_multilingual:
            language_tokens = np.array(t.all_language_tokens, dtype=np.int64)
            best = language_tokens[np.argmax(at_sot[:, language_tokens], axis=-1)]
            initial[:, 1] = best
            languages = [t.decode([int(token)]).strip("<|>") for token in best]
        return languages, no_speech, initial, cache

    def run(self) -> list[DecodedTokens]:
        runner = self.runner
        n = len(self.features)
        languages, no_speech, initial, cache = self._start()
        group = self.group
        features = self.features.take(np.arange(n), repeat=group) if group > 1 else self.features
        if group > 1:
            cache = cache.take(np.repeat(np.arange(n), group))
            initial = np.repeat(initial, group, axis=0)
        # The rest of the start sequence, after the start token already in the cache.
        logits, cache = runner.step(initial[:, 1:], cache, features)
        tokens = initial
        if self.beam_size:
            sequences, scores = _BeamSearch(self, n).run(tokens, logits[:, -1], cache, features)
        else:
            sequences, scores = self._sample(tokens, logits[:, -1], cache, features)
        results = []
        eot = self.tokenizer.eot
        for audio in range(n):
            candidates = [_until(eot, c) for c in sequences[audio]]
            # openai-whisper's ranking without a length penalty: sum log-probability over length.
            ranked = [s / max(len(c), 1) for s, c in zip(scores[audio], candidates, strict=True)]
            best = int(np.argmax(ranked))
            chosen = candidates[best]
            text = self.tokenizer.decode(chosen).strip()
            sum_logprob = float(scores[audio][best])
            results.append(DecodedTokens(language=languages[audio], tokens=chosen, text=text,
                                         avg_logprob=sum_logprob / (len(chosen) + 1),
                                         no_speech_prob=float(no_speech[audio]),
                                         compression_ratio=compression_ratio(text)))
        return results

    # -- logit filters ---------------------------------------------------------------------------

    def filter(self, logits: np.ndarray, tokens: list[list[int]] | np.ndarray, length: int) -> np.ndarray:
        """Blank suppression at the first sampled position, suppressed tokens, the repetition cut."""
        logits = np.array(logits, dtype=np.float32, copy=True)
        if length == self.sample_begin:
            logits[:, self.blank] = -np.inf
        logits[:, self.suppress] = -np.inf
        if length - self.sample_begin >= 16:
            eot = self.tokenizer.eot
            for row, sequence in enumerate(tokens):
                sampled = list(sequence[self.sample_begin:length])
                if sampled and sampled[-1] != eot and loop_period(sampled, 16, 4, 16) is not None:
                    logits[row, :] = -np.inf
                    logits[row, eot] = 0.0
        return logits

    # -- greedy and best-of-n sampling -------------------------------------------------------------

    def _sample(self, start: np.ndarray, logits: np.ndarray, cache: _Cache,
                features: OnnxFeatures) -> tuple[list[list[list[int]]], list[list[float]]]:
        runner, eot = self.runner, self.tokenizer.eot
        rows = len(start)
        tokens = np.concatenate([start, np.zeros((rows, self.sample_len + 1), np.int64)], axis=1)
        length = start.shape[1]
        sum_logprobs = np.zeros(rows, np.float32)
        finished = np.zeros(rows, bool)
        active = np.arange(rows)  # rows of the full batch still in the decoder's batch
        temperature = self.request.temperature
        for _ in range(self.sample_len):
            scores = self.filter(logits, tokens[active], length)
            if temperature == 0:
                chosen = np.argmax(scores, axis=-1)
            else:
                chosen = _sample_categorical(scores / temperature, self.rng)
            logprobs = _log_softmax(scores.astype(np.float32))
            picked = logprobs[np.arange(len(active)), chosen].astype(np.float32)
            done = finished[active]
            sum_logprobs[active] += np.where(done, np.float32(0), picked)
            chosen = np.where(done, eot, chosen)
            tokens[active, length] = chosen
            length += 1
            finished[active] = done | (chosen == eot)
            if finished.all() or length > self.n_ctx:
                break
            live = ~finished[active]
            # Drop ended rows from the batch once a quarter has ended: copying the cross cache costs
            # about what a few steps of those rows would.
            if (~live).sum() * 4 >= len(active):
                keep = np.nonzero(live)[0]
                active, cache, features = active[keep], cache.take(keep), features.take(keep)
            step_tokens = tokens[active, length - 1:length]
            step_logits, cache = runner.step(step_tokens, cache, features)
            logits = step_logits[:, -1]
        tokens[~finished, length] = eot
        length += 1
        n, group = len(self.features), self.group
        sequences = [[list(tokens[a * group + g, self.sample_begin:length]) for g in range(group)]
                     for a in range(n)]
        scores = [[float(sum_logprobs[a * group + g]) for g in range(group)] for a in range(n)]
        return sequences, scores


def _sample_categorical(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from softmax(logits) (Gumbel-max; -inf logits are never drawn)."""
    gumbel = -np.log(-np.log(rng.uniform(1e-12, 1.0, size=logits.shape)))
    return np.argmax(logits + gumbel, axis=-1)


class _BeamSearch:
    """openai-whisper's beam search (patience 1): beam_size + 1 candidates per beam, the best
    unfinished beam_size kept, finished sequences collected until beam_size per chunk."""

    def __init__(self, task: _DecodeTask, n_audio: int) -> None:
        self.task = task
        self.beam = task.beam_size
        self.n_audio = n_audio
        self.eot = task.tokenizer.eot
        self.finished: list[dict[tuple, float]] = [{} for _ in range(n_audio)]

    def run(self, start: np.ndarray, logits: np.ndarray, cache: _Cache,
            features: OnnxFeatures) -> tuple[list[list[list[int]]], list[list[float]]]:
        task, beam = self.task, self.beam
        sequences = [list(row) for row in start]
        sum_logprobs = np.zeros(len(sequences), np.float32)
        for _ in range(task.sample_len):
            scores = task.filter(logits, sequences, len(sequences[0]))
            logprobs = _log_softmax(scores.astype(np.float32))
            next_sequences, sources, new_sums = [], [], []
            for audio in range(self.n_audio):
                candidates: dict[tuple, float] = {}
                origin: dict[tuple, int] = {}
                for j in range(beam):
                    index = audio * beam + j
                    row = logprobs[index]
                    part = np.argpartition(-row, beam)[: beam + 1]  # the best beam + 1, then in order
                    top = part[np.argsort(-row[part], kind="stable")]
                    for token in top:
                        sequence = (*sequences[index], int(token))
                        candidates[sequence] = float(np.float32(sum_logprobs[index] + logprobs[index, token]))
                        origin[sequence] = index
                saved = 0
                newly: dict[tuple, float] = {}
                for sequence in sorted(candidates, key=candidates.get, reverse=True):
                    if sequence[-1] == self.eot:
                        newly[sequence] = candidates[sequence]
                    else:
                        new_sums.append(candidates[sequence])
                        next_sequences.append(list(sequence))
                        sources.append(origin[sequence])
                        saved += 1
                        if saved == beam:
                            break
                for sequence in sorted(newly, key=newly.get, reverse=True):
                    if len(self.finished[audio]) >= beam:
                        break
                    self.finished[audio][sequence] = newly[sequence]
            sequences = next_sequences
            sum_logprobs = np.array(new_sums, np.float32)
            cache = cache.take(np.array(sources, np.int64))
            if all(len(f) >= beam for f in self.finished) or len(sequences[0]) > task.n_ctx:
                break
            step_logits, cache = task.runner.step(np.array([[s[-1]] for s in sequences], np.int64),
                                                  cache, features)
            logits = step_logits[:, -1]
        out_sequences, out_scores = [], []
        for audio in range(self.n_audio):
            done = self.finished[audio]
            if len(done) < beam:
                order = np.argsort(sum_logprobs[audio * beam:(audio + 1) * beam])[::-1]
                for j in order:
                    sequence = (*sequences[audio * beam + j], self.eot)
                    done[sequence] = float(sum_logprobs[audio * beam + j])
                    if len(done) >= beam:
                        break
            out_sequences.append([list(s[task.sample_begin:]) for s in done])
            out_scores.append(list(done.values()))
        return out_sequences, out_scores
