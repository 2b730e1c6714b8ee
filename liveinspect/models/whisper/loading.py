"""Building openai-whisper's `Whisper` from resolved weights: checked, converted once, cached.

See `weights.py` for where weights come from. A CTranslate2 model is
converted once and cached (safetensors + JSON, keyed by the sha256 of its
`model.bin`); an openai-whisper `.pt` is read with `weights_only=True`.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from whisper.model import ModelDimensions, Whisper

from liveinspect.errors import CheckpointError
from liveinspect.models.whisper.convert import set_alignment_heads, whisper_from_ct2
from liveinspect.models.whisper.ct2 import read_ct2
from liveinspect.models.whisper.weights import (
    WhisperWeights,
    cache_paths,
    JoinedFile,
    resolve_whisper_weights,
    sha256_of,
)


def _load_cached(sha256: str) -> Whisper | None:
    tensors_path, meta_path = cache_paths(sha256)
    if not (tensors_path.is_file() and meta_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = Whisper(ModelDimensions(**meta["dims"]))
    model.load_state_dict(load_file(tensors_path), strict=True)
    heads = meta.get("alignment_heads")
    if heads:
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        set_alignment_heads(model, mask)
    return model.eval()


def _store_cached(sha256: str, model: Whisper) -> None:
    tensors_path, meta_path = cache_paths(sha256)
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    heads = model.alignment_heads.to_dense().nonzero().tolist()
    # Write to temporary names first so a crash never leaves a half-written cache entry.
    tmp_tensors = tensors_path.parent / f"{tensors_path.name}.{os.getpid()}.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_tensors))
    tmp_meta = meta_path.parent / f"{meta_path.name}.{os.getpid()}.tmp"
    tmp_meta.write_text(json.dumps({"dims": asdict(model.dims), "alignment_heads": heads}), encoding="utf-8")
    os.replace(tmp_tensors, tensors_path)
    os.replace(tmp_meta, meta_path)


def _convert_ct2(weights: WhisperWeights, sha256: str) -> Whisper:
    config_path = weights.config_dir / "config.json" if weights.config_dir else None
    config = {}
    if config_path and config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
    stream = JoinedFile(weights.files)
    try:
        ct2 = read_ct2(stream)
    finally:
        stream.close()
    return whisper_from_ct2(ct2, config)


# Bounds on a checkpoint's dimensions, around every released Whisper (large-v3: 128 mels, 1280
# wide, 32 layers of 20 heads, 51,866 tokens). The dims decide how much memory the model takes
# before any weight is read, so a 1.5 KB file must not choose gigabytes.
_DIM_BOUNDS = {"n_mels": (1, 256), "n_audio_ctx": (1, 3000), "n_audio_state": (1, 2048),
               "n_audio_head": (1, 64), "n_audio_layer": (1, 64), "n_vocab": (2, 1 << 17),
               "n_text_ctx": (1, 2048), "n_text_state": (1, 2048), "n_text_head": (1, 64),
               "n_text_layer": (1, 64)}


def _checked_dims(raw: object, path: Path) -> ModelDimensions:
    """ModelDimensions from a checkpoint's `dims`, refused unless every field is a sane int."""
    if not isinstance(raw, dict) or set(raw) != set(_DIM_BOUNDS):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path}: 'dims' must have exactly the fields {sorted(_DIM_BOUNDS)}, got {got}")
    for name, (low, high) in _DIM_BOUNDS.items():
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(f"{path}: dims.{name} = {value!r} is not an integer in [{low}, {high}]")
    for state, head in (("n_audio_state", "n_audio_head"), ("n_text_state", "n_text_head")):
        if raw[state] % raw[head]:
            raise CheckpointError(f"{path}: dims.{state} ({raw[state]}) is not a multiple of "
                                  f"dims.{head} ({raw[head]})")
    return ModelDimensions(**raw)


def _check_shapes(dims: ModelDimensions, state_dict: object, path: Path) -> None:
    """Compare the file's tensors with the shapes `dims` imply, on the meta device (no memory)."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: 'model_state_dict' is not a mapping of tensors")
    from whisper.model import AudioEncoder, TextDecoder

    # The two halves, not Whisper itself: its sparse alignment-head buffer has no meta kernel.
    with torch.device("meta"):
        encoder = AudioEncoder(dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head,
                               dims.n_audio_layer)
        decoder = TextDecoder(dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head,
                              dims.n_text_layer)
    expected = {f"{prefix}.{k}": tuple(v.shape)
                for prefix, part in (("encoder", encoder), ("decoder", decoder))
                for k, v in part.state_dict().items()}
    wrong = [k for k, shape in expected.items()
             if not isinstance(state_dict.get(k), torch.Tensor) or tuple(state_dict[k].shape) != shape]
    extra = [k for k in state_dict if k not in expected]
    if wrong or extra:
        raise CheckpointError(f"{path}: tensors do not match the checkpoint's dims: "
                              f"{len(wrong)} missing or misshapen (first: {', '.join(wrong[:3]) or '-'}), "
                              f"{len(extra)} unexpected (first: {', '.join(map(str, extra[:3])) or '-'})")


def _load_openai_checkpoint(path: Path) -> Whisper:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling refusal means an unusable file
        raise CheckpointError(f"{path}: not a loadable openai-whisper checkpoint ({error})") from error
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not an openai-whisper checkpoint (no 'dims' or 'model_state_dict')")
    dims = _checked_dims(checkpoint["dims"], path)
    _check_shapes(dims, checkpoint["model_state_dict"], path)
    model = Whisper(dims)   # only now: its size is what the file itself holds
    try:
        model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: {error}") from error
    heads = checkpoint.get("alignment_heads")
    if isinstance(heads, torch.Tensor):
        set_alignment_heads(model, heads.to_dense().bool())
    else:
        # openai-whisper's own checkpoints carry no heads; its loader takes them from a table by name.
        import whisper

        table = getattr(whisper, "_ALIGNMENT_HEADS", {})
        if path.stem in table:
            # Named like an official model but shaped otherwise: keep the default heads.
            with contextlib.suppress(RuntimeError, ValueError):
                model.set_alignment_heads(table[path.stem])
    return model.eval()


def load_whisper_model(spec: str | os.PathLike | WhisperWeights | None = None, *,
                       use_cache: bool = True) -> Whisper:
    """An openai-whisper `Whisper` (float32, CPU) for `spec`, converting and caching CT2 weights."""
    weights = spec if isinstance(spec, WhisperWeights) else resolve_whisper_weights(spec)
    if weights.kind == "openai":
        return _load_openai_checkpoint(weights.files[0])
    actual = sha256_of(weights.files)
    if weights.sha256 is not None and actual != weights.sha256:
        raise CheckpointError(f"{weights.description}: sha256 {actual} does not match the pinned "
                              f"{weights.sha256}; the package files are corrupt or were replaced")
    if use_cache:
        cached = _load_cached(actual)
        if cached is not None:
            return cached
    model = _convert_ct2(weights, actual)
    if use_cache:
        _store_cached(actual, model)
    return model
