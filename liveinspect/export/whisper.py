"""Whisper to ONNX: the encoder, one decoder step with its key/value cache, and the alignment pass.

Three graphs written node by node from the weights of an openai-whisper
model (`GraphBuilder`), plus what a runtime without openai-whisper needs
beside them (the token table, the mel filter bank, the model's dimensions
and alignment heads). `OnnxWhisperRunner` (models/whisper/onnx_runner.py)
reads the folder.

- `encoder.onnx`: mel (batch, n_mels, 3000) -> for every decoder layer l,
  `cross_k_l` (batch, heads, head_dim, 1500) and `cross_v_l` (batch, heads,
  1500, head_dim). The cross-attention keys and values depend on the audio
  alone, so they are computed once per chunk here instead of once per token;
  keys are stored transposed and pre-scaled, ready for `q @ k`.
- `decoder.onnx`: tokens (batch, T), the self-attention cache of every
  layer (`self_k_l` (batch, heads, head_dim, P), `self_v_l` (batch, heads,
  P, head_dim); P = 0 for the first call) and the cross keys/values ->
  `logits` (batch, T, vocab) and the grown caches `present_k_l`,
  `present_v_l`. The same graph serves the first call (the start sequence,
  empty cache: Optimum's "decoder") and every later step (one token:
  "decoder with past"); positions and the causal mask come from P.
- `alignment.onnx`: tokens (batch, T) and the cross keys/values ->
  `alignment_qk` (batch, alignment heads, T, 1500), the raw cross-attention
  scores of the heads word timing reads, from the decoder run only up to the
  last layer that has one (no vocabulary projection).

Each cache is its own input so nothing is sliced out of a stacked tensor at
every step. The scale openai-whisper applies to queries and keys
(head_dim ** -0.25 each) is folded into their weights.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.export.graph import OPSET, GraphBuilder
from liveinspect.models.whisper.vocab import FORMAT as TOKENIZER_FORMAT
from liveinspect.models.whisper.vocab import TOKENIZER_FILE, VOCAB_FILE

CONFIG_FILE = "whisper.json"
MEL_FILE = "mel_filters.npy"
GRAPH_FILES = {"encoder": "encoder.onnx", "decoder": "decoder.onnx", "alignment": "alignment.onnx"}
CONFIG_FORMAT = "liveinspect-whisper-onnx/1"


@dataclass(frozen=True)
class Dims:
    """openai-whisper's `ModelDimensions`, as plain data."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


class _Weights:
    """A state dict as float32 numpy arrays, with a clear error for a missing name."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def __call__(self, name: str) -> np.ndarray:
        if name not in self.state:
            raise LiveInspectError(f"Whisper weights have no {name!r}; is this an openai-whisper model?")
        value = self.state[name]
        return np.asarray(value.detach().cpu().float().numpy() if hasattr(value, "detach") else value,
                          dtype=np.float32)

    def get(self, name: str) -> np.ndarray | None:
        return self(name) if name in self.state else None


def _split_heads(g: GraphBuilder, x: str, heads: int, head_dim: int, perm: list[int]) -> str:
    return g.op("Transpose", [g.op("Reshape", [x, g.ints(0, 0, heads, head_dim)])], perm=perm)


def _merge_heads(g: GraphBuilder, x: str, width: int) -> str:
    return g.op("Reshape", [g.op("Transpose", [x], perm=[0, 2, 1, 3]), g.ints(0, 0, width)])


class _Attention:
    """One openai-whisper MultiHeadAttention's weights, with the q/k scale folded in."""

    def __init__(self, w: _Weights, prefix: str, heads: int, width: int) -> None:
        self.heads, self.head_dim = heads, width // heads
        scale = np.float32(self.head_dim ** -0.25)
        self.prefix = prefix
        self.q_w, self.q_b = w(f"{prefix}.query.weight") * scale, w(f"{prefix}.query.bias") * scale
        self.k_w = w(f"{prefix}.key.weight") * scale
        self.v_w, self.v_b = w(f"{prefix}.value.weight"), w(f"{prefix}.value.bias")
        self.o_w, self.o_b = w(f"{prefix}.out.weight"), w(f"{prefix}.out.bias")

    def query(self, g: GraphBuilder, x: str) -> str:  # (B, H, T, hd)
        return _split_heads(g, g.linear(x, self.q_w, self.q_b, f"{self.prefix}.query"), self.heads,
                            self.head_dim, [0, 2, 1, 3])

    def key_t(self, g: GraphBuilder, x: str) -> str:  # (B, H, hd, S)
        return _split_heads(g, g.linear(x, self.k_w, None, f"{self.prefix}.key"), self.heads,
                            self.head_dim, [0, 2, 3, 1])

    def value(self, g: GraphBuilder, x: str) -> str:  # (B, H, S, hd)
        return _split_heads(g, g.linear(x, self.v_w, self.v_b, f"{self.prefix}.value"), self.heads,
                            self.head_dim, [0, 2, 1, 3])

    def attend(self, g: GraphBuilder, q: str, k_t: str, v: str, mask: str | None) -> tuple[str, str]:
        """(output (B, T, width), raw scores qk (B, H, T, S))."""
        qk = g.op("MatMul", [q, k_t])
        scores = g.op("Add", [qk, mask]) if mask is not None else qk
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        out = g.linear(_merge_heads(g, context, self.heads * self.head_dim), self.o_w, self.o_b,
                       f"{self.prefix}.out")
        return out, qk


def _mlp(g: GraphBuilder, w: _Weights, prefix: str, x: str) -> str:
    hidden = g.gelu(g.linear(x, w(f"{prefix}.mlp.0.weight"), w(f"{prefix}.mlp.0.bias"), f"{prefix}.mlp.0"))
    return g.linear(hidden, w(f"{prefix}.mlp.2.weight"), w(f"{prefix}.mlp.2.bias"), f"{prefix}.mlp.2")


def _norm(g: GraphBuilder, w: _Weights, prefix: str, x: str) -> str:
    return g.layer_norm(x, w(f"{prefix}.weight"), w(f"{prefix}.bias"), prefix)


def build_encoder(w: _Weights, dims: Dims, *, metadata: dict[str, Any]):
    g = GraphBuilder("whisper-encoder")
    mel = g.input("mel", "float32", ["batch", dims.n_mels, 2 * dims.n_audio_ctx])
    x = g.gelu(g.op("Conv", [mel, g.const("conv1.weight", w("encoder.conv1.weight")),
                             g.const("conv1.bias", w("encoder.conv1.bias"))], kernel_shape=[3], pads=[1, 1]))
    x = g.gelu(g.op("Conv", [x, g.const("conv2.weight", w("encoder.conv2.weight")),
                             g.const("conv2.bias", w("encoder.conv2.bias"))], kernel_shape=[3], pads=[1, 1],
                    strides=[2]))
    x = g.op("Add", [g.op("Transpose", [x], perm=[0, 2, 1]),
                     g.const("positional_embedding", w("encoder.positional_embedding"))])
    for layer in range(dims.n_audio_layer):
        p = f"encoder.blocks.{layer}"
        attention = _Attention(w, f"{p}.attn", dims.n_audio_head, dims.n_audio_state)
        h = _norm(g, w, f"{p}.attn_ln", x)
        q, k_t, v = attention.query(g, h), attention.key_t(g, h), attention.value(g, h)
        out, _ = attention.attend(g, q, k_t, v, None)
        x = g.op("Add", [x, out])
        x = g.op("Add", [x, _mlp(g, w, p, _norm(g, w, f"{p}.mlp_ln", x))])
    features = _norm(g, w, "encoder.ln_post", x)
    hd = dims.n_text_state // dims.n_text_head
    for layer in range(dims.n_text_layer):
        cross = _Attention(w, f"decoder.blocks.{layer}.cross_attn", dims.n_text_head, dims.n_text_state)
        g.output(cross.key_t(g, features), f"cross_k_{layer}", "float32",
                 ["batch", dims.n_text_head, hd, dims.n_audio_ctx])
        g.output(cross.value(g, features), f"cross_v_{layer}", "float32",
                 ["batch", dims.n_text_head, dims.n_audio_ctx, hd])
    return g.model(metadata)


def _decoder_stack(g: GraphBuilder, w: _Weights, dims: Dims, tokens: str, *, layers: int,
                   cache: bool) -> tuple[str, list[str]]:
    """Embeddings and `layers` decoder blocks; returns (hidden state, raw cross scores per layer).
    With `cache`, the self-attention caches are inputs and the grown caches outputs."""
    hd = dims.n_text_state // dims.n_text_head
    token_count = g.op("Gather", [g.op("Shape", [tokens]), g.ints(1)])  # [T]
    if cache:
        past = g.op("Gather", [g.op("Shape", [g.input("self_v_0", "float32",
                                                       ["batch", dims.n_text_head, "past", hd])]), g.ints(2)])
    else:
        past = g.ints(0)
    total = g.op("Add", [past, token_count])  # [P + T]
    positions = g.op("Slice", [g.const("text_positions", w("decoder.positional_embedding")), past, total,
                               g.ints(0)])
    embedding = g.const("token_embedding", w("decoder.token_embedding.weight"))
    x = g.op("Add", [g.op("Gather", [embedding, tokens]), positions])
    # Causal mask over (T queries, P + T keys): key j is hidden from query i when j > P + i.
    zero, one = g.ints(0), g.ints(1)
    query_index = g.op("Range", [_scalar_i64(g, 0), _squeeze(g, token_count), _scalar_i64(g, 1)])
    rows = g.op("Add", [g.op("Unsqueeze", [query_index, one]), past])  # (T, 1): P + i
    cols = g.op("Range", [_scalar_i64(g, 0), _squeeze(g, total), _scalar_i64(g, 1)])
    hidden_cells = g.op("Greater", [g.op("Unsqueeze", [cols, zero]), rows])
    mask = g.op("Where", [hidden_cells, g.scalar(float("-inf")), g.scalar(0.0)])
    scores = []
    for layer in range(layers):
        p = f"decoder.blocks.{layer}"
        attention = _Attention(w, f"{p}.attn", dims.n_text_head, dims.n_text_state)
        h = _norm(g, w, f"{p}.attn_ln", x)
        k_t, v = attention.key_t(g, h), attention.value(g, h)
        if cache:
            past_k = g.input(f"self_k_{layer}", "float32", ["batch", dims.n_text_head, hd, "past"])
            past_v = "self_v_0" if layer == 0 else g.input(f"self_v_{layer}", "float32",
                                                            ["batch", dims.n_text_head, "past", hd])
            k_t = g.op("Concat", [past_k, k_t], axis=3)
            v = g.op("Concat", [past_v, v], axis=2)
            g.output(k_t, f"present_k_{layer}", "float32", ["batch", dims.n_text_head, hd, "total"])
            g.output(v, f"present_v_{layer}", "float32", ["batch", dims.n_text_head, "total", hd])
        out, _ = attention.attend(g, attention.query(g, h), k_t, v, mask)
        x = g.op("Add", [x, out])
        cross = _Attention(w, f"{p}.cross_attn", dims.n_text_head, dims.n_text_state)
        cross_k = g.input(f"cross_k_{layer}", "float32", ["batch", dims.n_text_head, hd, dims.n_audio_ctx])
        cross_v = g.input(f"cross_v_{layer}", "float32", ["batch", dims.n_text_head, dims.n_audio_ctx, hd])
        q = cross.query(g, _norm(g, w, f"{p}.cross_attn_ln", x))
        out, qk = cross.attend(g, q, cross_k, cross_v, None)
        scores.append(qk)
        x = g.op("Add", [x, out])
        x = g.op("Add", [x, _mlp(g, w, p, _norm(g, w, f"{p}.mlp_ln", x))])
    return x, scores


def _scalar_i64(g: GraphBuilder, value: int) -> str:
    return g.const("i64s", np.array(value, dtype=np.int64))


def _squeeze(g: GraphBuilder, x: str) -> str:
    return g.op("Squeeze", [x, g.ints(0)])


def build_decoder(w: _Weights, dims: Dims, *, metadata: dict[str, Any]):
    g = GraphBuilder("whisper-decoder")
    tokens = g.input("tokens", "int64", ["batch", "tokens"])
    x, _ = _decoder_stack(g, w, dims, tokens, layers=dims.n_text_layer, cache=True)
    x = _norm(g, w, "decoder.ln", x)
    logits = g.linear(x, w("decoder.token_embedding.weight"), None, "decoder.projection")
    g.output(logits, "logits", "float32", ["batch", "tokens", dims.n_vocab])
    return g.model(metadata)


def build_alignment(w: _Weights, dims: Dims, heads: list[tuple[int, int]], *, metadata: dict[str, Any]):
    g = GraphBuilder("whisper-alignment")
    tokens = g.input("tokens", "int64", ["batch", "tokens"])
    last = max(layer for layer, _ in heads)
    _, scores = _decoder_stack(g, w, dims, tokens, layers=last + 1, cache=False)
    by_layer: dict[int, list[int]] = {}
    for layer, head in sorted(heads):
        by_layer.setdefault(layer, []).append(head)
    picked = [g.op("Gather", [scores[layer], g.const("heads", np.array(chosen, np.int64))], axis=1)
              for layer, chosen in sorted(by_layer.items())]
    stacked = picked[0] if len(picked) == 1 else g.op("Concat", picked, axis=1)
    g.output(stacked, "alignment_qk", "float32", ["batch", len(heads), "tokens", dims.n_audio_ctx])
    return g.model(metadata)


def _prune_unused_inputs(model) -> None:
    """Drop graph inputs no node reads (the alignment pass never reads the last layer's values)."""
    used = {name for node in model.graph.node for name in node.input}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)


# -- the files beside the graphs -------------------------------------------------------------------

def tokenizer_files(model: Any, out_dir: Path) -> None:
    """`tokenizer.json` and `vocab.tiktoken` from openai-whisper's tokenizer for `model`: the token
    table, the special tokens in id order, and the encodings a decoder needs (see vocab.py)."""
    from whisper.tokenizer import LANGUAGES, get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
    encoding = tokenizer.encoding
    name = "multilingual" if model.is_multilingual else "gpt2"
    import whisper

    source = Path(whisper.__file__).parent / "assets" / f"{name}.tiktoken"
    shutil.copyfile(source, out_dir / VOCAB_FILE)
    base = encoding.n_vocab - len(encoding.special_tokens_set)
    specials = sorted(encoding.special_tokens_set, key=encoding.encode_single_token)
    if [encoding.encode_single_token(s) for s in specials] != list(range(base, encoding.n_vocab)):
        raise LiveInspectError("openai-whisper's special tokens are not numbered after the base vocabulary")
    languages = [code for code in list(LANGUAGES)[: model.num_languages]] if model.is_multilingual else []
    meta = {"format": TOKENIZER_FORMAT, "multilingual": bool(model.is_multilingual),
            "num_languages": int(model.num_languages), "base_vocab": int(base), "specials": specials,
            "languages": languages, "blank": tokenizer.encode(" "),
            "non_speech": list(tokenizer.non_speech_tokens)}
    (out_dir / TOKENIZER_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def mel_filter_file(n_mels: int, out_dir: Path) -> None:
    from whisper.audio import mel_filters

    np.save(out_dir / MEL_FILE, mel_filters("cpu", n_mels).numpy().astype(np.float32), allow_pickle=False)


def alignment_heads(model: Any) -> list[tuple[int, int]]:
    return [(int(layer), int(head)) for layer, head in model.alignment_heads.to_dense().nonzero().tolist()]


def export_whisper(model: Any, out_dir: str | Path, *, name: str = "whisper",
                   source_sha256: str | None = None) -> dict[str, Any]:
    """Write the three fp32 graphs and their companion files for an openai-whisper `model` into
    `out_dir`; returns the config written to whisper.json."""
    import onnx

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims = Dims(**asdict(model.dims))
    heads = alignment_heads(model)
    if not heads:
        raise LiveInspectError("the model has no alignment heads; word timing needs them")
    w = _Weights(model.state_dict())
    metadata = {"liveinspect.model": name, "liveinspect.source_sha256": source_sha256 or "",
                "liveinspect.dims": asdict(dims)}
    onnx.save(build_encoder(w, dims, metadata=metadata), str(out / GRAPH_FILES["encoder"]))
    onnx.save(build_decoder(w, dims, metadata=metadata), str(out / GRAPH_FILES["decoder"]))
    alignment = build_alignment(w, dims, heads, metadata=metadata)
    _prune_unused_inputs(alignment)
    onnx.save(alignment, str(out / GRAPH_FILES["alignment"]))
    tokenizer_files(model, out)
    mel_filter_file(dims.n_mels, out)
    config = {"format": CONFIG_FORMAT, "name": name, "source_sha256": source_sha256, "opset": OPSET,
              "dims": asdict(dims), "alignment_heads": heads, "multilingual": bool(model.is_multilingual),
              "num_languages": int(model.num_languages), "graphs": dict(GRAPH_FILES)}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return config
