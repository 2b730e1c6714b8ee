"""Keeps small JPEG thumbnails of the frames that findings point at.

Frames are only in memory while their segment is processed, so the
orchestrator hands each segment here before it is dropped; only frames that
some text or finding refers to are kept, each once, downscaled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

THUMBNAIL_MAX_SIDE = 480


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    width: int  # size of the frame the evidence boxes refer to, not of the JPEG
    height: int


def encode_thumbnail(image: np.ndarray, max_side: int = THUMBNAIL_MAX_SIDE) -> Thumbnail:
    height, width = image.shape[:2]
    picture = Image.fromarray(image)
    picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return Thumbnail(buffer.getvalue(), width, height)


class EvidenceStore:
    """Thumbnails of one broadcast's frames (by frame index) and still images (by name)."""

    def __init__(self) -> None:
        self.frames: dict[int, Thumbnail] = {}
        self.stills: dict[str, Thumbnail] = {}

    def keep_frame(self, frame_index: int, image: np.ndarray) -> None:
        if frame_index not in self.frames:
            self.frames[frame_index] = encode_thumbnail(image)

    def keep_still(self, name: str, image: np.ndarray) -> None:
        self.stills[name] = encode_thumbnail(image, max_side=720)


    @staticmethod
    def frame_path(frame_index: int) -> str:
        """Where `write` puts a frame's thumbnail, relative to the report folder."""
        return f"frames/{frame_index:06d}.jpg"

    @staticmethod
    def still_path(name: str) -> str:
        return f"frames/{name}.jpg"

    def write(self, folder: Path) -> dict[str, str]:
        """Write every thumbnail under `folder`; returns key -> path relative to `folder`.

        Keys are `frame:<index>` for frames and the still's name for stills.
        """
        (folder / "frames").mkdir(parents=True, exist_ok=True)
        paths: dict[str, str] = {}
        for index, thumb in sorted(self.frames.items()):
            relative = self.frame_path(index)
            (folder / relative).write_bytes(thumb.jpeg)
            paths[f"frame:{index}"] = relative
        for name, thumb in self.stills.items():
            relative = self.still_path(name)
            (folder / relative).write_bytes(thumb.jpeg)
            paths[name] = relative
        return paths
