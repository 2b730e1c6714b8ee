"""Convert a CTranslate2 `WhisperSpec` into openai-whisper's `Whisper` module.

The mapping is one table of name patterns plus the fused projections that
CTranslate2 stores as one matrix (self-attention QKV, cross-attention KV).
Keys that openai-whisper leaves without bias are zero in CTranslate2 and are
checked to be zero before they are dropped, so a wrong mapping cannot pass.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from whisper.model import ModelDimensions, Whisper

from liveinspect.errors import CheckpointError
from liveinspect.models.whisper.ct2 import Ct2Model

_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")


def _count_layers(ct2: Ct2Model, side: str) -> int:
    indices = {int(m.group(2)) for name in ct2.variables
               if (m := _LAYER.match(name)) and m.group(1) == side}
    if not indices or sorted(indices) != list(range(len(indices))):
        raise CheckpointError(f"{side} layers are missing or not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _heads(ct2: Ct2Model, side: str, width: int) -> int:
    heads = ct2.flag(f"{side}/num_heads")
    if heads is None:
        # Old files without the flag: every released Whisper uses 64-wide heads.
        heads = width // 64
    return int(heads)


def dimensions_from_ct2(ct2: Ct2Model) -> ModelDimensions:
    conv1 = ct2.raw("encoder/conv1/weight")
    audio_positions = ct2.raw("encoder/position_encodings/encodings")
    embedding = ct2.raw("decoder/embeddings/weight")
    text_positions = ct2.raw("decoder/position_encodings/encodings")
    return ModelDimensions(
        n_mels=int(conv1.shape[1]),
        n_audio_ctx=int(audio_positions.shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=_heads(ct2, "encoder", int(conv1.shape[0])),
        n_audio_layer=_count_layers(ct2, "encoder"),
        n_vocab=int(embedding.shape[0]),
        n_text_ctx=int(text_positions.shape[0]),
        n_text_state=int(embedding.shape[1]),
        n_text_head=_heads(ct2, "decoder", int(embedding.shape[1])),
        n_text_layer=_count_layers(ct2, "decoder"),
    )


def _zero_bias(value: np.ndarray, name: str) -> None:
    if np.abs(value).max(initial=0.0) > 1e-6:
        raise CheckpointError(f"{name}: expected a zero key bias, found values up to {np.abs(value).max()}")


class _StateBuilder:
    def __init__(self, ct2: Ct2Model) -> None:
        self.ct2 = ct2
        self.state: dict[str, np.ndarray] = {}

    def copy(self, source: str, target: str) -> None:
        self.state[target] = self.ct2.weight(source)

    def layer_norm(self, source: str, target: str) -> None:
        self.copy(f"{source}/gamma", f"{target}.weight")
        self.copy(f"{source}/beta", f"{target}.bias")

    def linear(self, source: str, target: str) -> None:
        self.copy(f"{source}/weight", f"{target}.weight")
        self.copy(f"{source}/bias", f"{target}.bias")

    def fused(self, source: str, targets: list[str | None], biased: list[bool]) -> None:
        """Split a fused [k*n, n] projection row-wise; `None` targets are the unbiased keys."""
        weight = self.ct2.weight(f"{source}/weight")
        bias = self.ct2.weight(f"{source}/bias")
        parts = len(targets)
        if weight.shape[0] % parts:
            raise CheckpointError(f"{source}: {weight.shape[0]} rows do not split into {parts}")
        rows = zip(targets, biased, np.split(weight, parts), np.split(bias, parts), strict=True)
        for target, has_bias, w, b in rows:
            self.state[f"{target}.weight"] = w
            if has_bias:
                self.state[f"{target}.bias"] = b
            else:
                _zero_bias(b, f"{source}/bias -> {target}")

    def attention_block(self, source: str, target: str, cross: bool) -> None:
        self.self_attention(f"{source}/self_attention", f"{target}.attn")
        self.layer_norm(f"{source}/self_attention/layer_norm", f"{target}.attn_ln")
        if cross:
            attn, norm = f"{source}/attention", f"{target}.cross_attn"
            self.layer_norm(f"{attn}/layer_norm", f"{target}.cross_attn_ln")
            self.linear(f"{attn}/linear_0", f"{norm}.query")
            self.fused(f"{attn}/linear_1", [f"{norm}.key", f"{norm}.value"], [False, True])
            self.linear(f"{attn}/linear_2", f"{norm}.out")
        self.layer_norm(f"{source}/ffn/layer_norm", f"{target}.mlp_ln")
        self.linear(f"{source}/ffn/linear_0", f"{target}.mlp.0")
        self.linear(f"{source}/ffn/linear_1", f"{target}.mlp.2")

    def self_attention(self, source: str, target: str) -> None:
        self.fused(f"{source}/linear_0", [f"{target}.query", f"{target}.key", f"{target}.value"],
                   [True, False, True])
        self.linear(f"{source}/linear_1", f"{target}.out")


def state_dict_from_ct2(ct2: Ct2Model, dims: ModelDimensions) -> dict[str, np.ndarray]:
    builder = _StateBuilder(ct2)
    builder.linear("encoder/conv1", "encoder.conv1")
    builder.linear("encoder/conv2", "encoder.conv2")
    builder.copy("encoder/position_encodings/encodings", "encoder.positional_embedding")
    for i in range(dims.n_audio_layer):
        builder.attention_block(f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    builder.layer_norm("encoder/layer_norm", "encoder.ln_post")
    builder.copy("decoder/embeddings/weight", "decoder.token_embedding.weight")
    builder.copy("decoder/position_encodings/encodings", "decoder.positional_embedding")
    for i in range(dims.n_text_layer):
        builder.attention_block(f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    builder.layer_norm("decoder/layer_norm", "decoder.ln")
    # openai-whisper ties the output projection to the token embedding.
    if "decoder/projection/weight" in ct2:
        projection = ct2.weight("decoder/projection/weight")
        embedding = builder.state["decoder.token_embedding.weight"]
        if projection.shape != embedding.shape or not np.allclose(projection, embedding, atol=1e-3):
            raise CheckpointError("decoder/projection/weight differs from the token embedding; "
                                  "openai-whisper cannot represent an untied output layer")
    return builder.state


def alignment_heads_from_config(config: dict[str, Any], dims: ModelDimensions) -> torch.Tensor | None:
    """A boolean [n_text_layer, n_text_head] mask, or None when the config names no heads."""
    heads = config.get("alignment_heads")
    if not heads:
        return None
    mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        if not (0 <= layer < dims.n_text_layer and 0 <= head < dims.n_text_head):
            raise CheckpointError(f"alignment head ({layer}, {head}) is outside the model")
        mask[layer, head] = True
    return mask


def set_alignment_heads(model: Whisper, mask: torch.Tensor | None) -> None:
    if mask is not None:
        # openai-whisper keeps the heads as a sparse buffer; replace it the same way.
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)


def whisper_from_ct2(ct2: Ct2Model, config: dict[str, Any] | None = None) -> Whisper:
    """Build an openai-whisper `Whisper` (float32, CPU) holding exactly the CTranslate2 weights."""
    if ct2.spec_name and ct2.spec_name != "WhisperSpec":
        raise CheckpointError(f"expected a WhisperSpec model, got {ct2.spec_name!r}")
    dims = dimensions_from_ct2(ct2)
    state = state_dict_from_ct2(ct2, dims)
    model = Whisper(dims)
    try:
        model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                              strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"CTranslate2 weights do not fit Whisper{dims}: {error}") from error
    set_alignment_heads(model, alignment_heads_from_config(config or {}, dims))
    return model.eval()
