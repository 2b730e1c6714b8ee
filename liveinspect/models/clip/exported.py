"""`ExportedClip`: an open_clip image tower exported to ONNX, with its prompts' text embeddings (no torch).

What `liveinspect export --models clip` writes (`liveinspect/export/clip.py`):
`image.onnx` (pixels (N, 3, H, W) -> L2-normalised `embeddings`; `image.int8.onnx` where the budget
allowed), `texts.npy` + `clip.json`: the text tower's embedding of every prompt of the policy's
prompt sets, in both languages, and the tower's preprocessing, logit scale and version. An edge
node never needs the text tower: `embed_texts` looks the prompts up (any other text is an error
that says to export again with the policy in use). `ClipModel.load` returns one of these for an
exported folder, so the scene stage and the zero-shot classifier run on it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from liveinspect.backends.base import BackendOptions, precision_variant
from liveinspect.errors import CheckpointError, LiveInspectError
from liveinspect.models.clip.preprocess import ImagePreprocess, embed_images

CONFIG_FILE = "clip.json"
FORMAT = "liveinspect-clip-onnx/1"


def is_exported_clip_dir(path: str | Path | None) -> bool:
    return path is not None and Path(path).is_dir() and (Path(path) / CONFIG_FILE).is_file()


class ExportedClip:
    """The exported image tower on ONNX Runtime and the stored prompt embeddings."""

    def __init__(self, folder: str | Path, backend: BackendOptions | None = None) -> None:
        from liveinspect.backends.onnx import OnnxBackend

        self.folder = Path(folder)
        config = json.loads((self.folder / CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise CheckpointError(f"{self.folder / CONFIG_FILE}: format {config.get('format')!r}, expected "
                                  f"{FORMAT!r}; export again with `liveinspect export --models clip`")
        options = backend or BackendOptions(kind="onnx", precision=config.get("precision", "fp32"))
        if options.kind != "onnx":
            options = BackendOptions(kind="onnx", precision=config.get("precision", "fp32"),
                                     threads=options.threads)
        graph = precision_variant(self.folder / "image.onnx", options.precision)
        self.image_backend = OnnxBackend(graph, options)
        self.image_preprocess = ImagePreprocess.from_config(config["preprocess"])
        self.name = config["name"]
        self.version = config["version"]
        self.logit_scale = float(config["logit_scale"])
        self.hf_text_tower = config.get("hf_text_tower")
        texts = config["texts"]
        vectors = np.load(self.folder / "texts.npy", allow_pickle=False).astype(np.float32)
        if vectors.shape[0] != len(texts):
            raise CheckpointError(f"{self.folder}: {len(texts)} prompts but {vectors.shape[0]} embeddings")
        self._texts = {text: vectors[i] for i, text in enumerate(texts)}

    @cached_property
    def embed_dim(self) -> int:
        return int(next(iter(self._texts.values())).shape[0])

    def embed_images(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        return embed_images(images, self.image_preprocess, self.image_backend, self.embed_dim, batch_size)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            raise LiveInspectError("no texts to embed")
        missing = [t for t in texts if t not in self._texts]
        if missing:
            raise LiveInspectError(f"the exported CLIP in {self.folder} has no text tower and no embedding "
                                   f"for {missing[:3]}; export it again with the policy you scan with "
                                   "(`liveinspect export --models clip --policy DIR`)")
        return np.stack([self._texts[t] for t in texts])
