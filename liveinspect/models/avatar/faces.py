"""Aligned face crops for the avatar face-crop head, from the project's MTCNN detector.

The crop head reads the presenter's face, not the room: a small presenter in
a busy frame weighs little in a whole-frame embedding. Each image's largest
face is rotated about its box centre so the eyes are level (MTCNN's first
two landmarks), grown by `margin` of the box side on every side (the face's
edge, hairline and the background around it are where blending and
rendering leave traces), and resized to the CLIP tower's 224 x 224 input.

Detection itself is `liveinspect.models.faces.FaceDetector` (called through
its public API only). Images without a face get `None`: the caller falls
back to the whole-frame head, and says so in the finding.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CROP_SIZE = 224
MARGIN = 0.3  # of the box side, on each side


@dataclass(frozen=True)
class FaceCrop:
    crop: np.ndarray  # (CROP_SIZE, CROP_SIZE, 3) uint8, eyes level
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input image
    score: float  # the detector's confidence
    roll_deg: float  # how far the face was turned to level the eyes

    @property
    def side(self) -> float:
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def eye_roll_degrees(landmarks: Sequence[tuple[float, float]]) -> float:
    """The angle of the line from the left to the right eye, in degrees (image y grows downwards,
    so a positive angle means the right eye sits lower: the face is turned clockwise on screen)."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def aligned_crop(image: np.ndarray, box: tuple[float, float, float, float],
                 landmarks: Sequence[tuple[float, float]], *, size: int = CROP_SIZE,
                 margin: float = MARGIN) -> tuple[np.ndarray, float]:
    """(crop, roll in degrees): `image` rotated about the box centre so the eyes are level, then a
    square of the box's longer side plus `margin` on each side; outside the image reads as black."""
    from PIL import Image

    roll = eye_roll_degrees(landmarks) if len(landmarks) >= 2 else 0.0
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * (0.5 + margin)
    picture = Image.fromarray(np.asarray(image, np.uint8))
    left, top = int(math.floor(cx - half)), int(math.floor(cy - half))
    side = max(1, int(math.ceil(2 * half)))
    # Cut a generous window first so the rotation works on the face's neighbourhood, not the frame.
    pad = int(math.ceil(half * 0.45))
    window = picture.crop((left - pad, top - pad, left + side + pad, top + side + pad))
    if abs(roll) > 0.5:
        # PIL turns counter-clockwise for positive angles: that levels a clockwise-turned face.
        centre = (cx - (left - pad), cy - (top - pad))
        window = window.rotate(roll, resample=Image.Resampling.BILINEAR, center=centre)
    face = window.crop((pad, pad, pad + side, pad + side))
    return np.asarray(face.resize((size, size), Image.Resampling.BICUBIC)), roll


class FaceCropper:
    """The largest face of each image as an aligned crop, or None where MTCNN finds none.

    `min_face_size` and `max_side` follow the face stage's settings (a
    presenter's face is large); the detector loads on first use, so a
    missing MTCNN install surfaces as `WeightsNotFoundError` from `check()`.
    """

    def __init__(self, *, min_face_size: int = 24, max_side: int = 640, margin: float = MARGIN,
                 weights_dir: str | None = None) -> None:
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.margin = margin
        self.weights_dir = weights_dir
        self._detector = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._detector is None:
                from liveinspect.models.faces import FaceDetector

                self._detector = FaceDetector(self.weights_dir, min_face_size=self.min_face_size,
                                              max_side=self.max_side)
            return self._detector

    def check(self) -> None:
        self._get()

    @property
    def version(self) -> str:
        return self._get().version

    def largest(self, images: Sequence[np.ndarray]) -> list[FaceCrop | None]:
        if not images:
            return []
        found = self._get().detect_batch([np.ascontiguousarray(image, np.uint8) for image in images])
        crops: list[FaceCrop | None] = []
        for image, faces in zip(images, found, strict=True):
            if not faces:
                crops.append(None)
                continue
            face = faces[0]  # the detector returns them largest first
            crop, roll = aligned_crop(image, face.box, face.landmarks, margin=self.margin)
            crops.append(FaceCrop(crop=crop, box=tuple(float(v) for v in face.box),  # type: ignore[arg-type]
                                  score=float(face.score), roll_deg=round(roll, 2)))
        return crops
