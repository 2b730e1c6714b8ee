"""Optional exposed-body-part detector on NudeNet's ONNX model (Art. 20: presenter attire).

Off by default: the model file `nudenet==3.4.2` ships (`320n.onnx`, a YOLOv8n
with 18 classes) carries an AGPL-3.0 licence, which a platform must accept
knowingly. It is never a dependency of liveinspect; users who accept it
install nudenet themselves and pass the model path (or set
`LIVEINSPECT_EXPOSURE_MODEL`). Only `onnxruntime` and `numpy`/`cv2` are used,
so it also runs on the ONNX-only edge nodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from liveinspect.backends.base import BackendOptions
from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.models.packaged import installed_files

ENV_MODEL = "LIVEINSPECT_EXPOSURE_MODEL"
OFF_REASON = (f"exposure plugin off (nudenet model is AGPL-3.0; enable with `pip install "
              f"nudenet==3.4.2` and {ENV_MODEL}=auto or a path to 320n.onnx, or "
              "FrameAnalyzer(exposure_model=...))")

# The class order of NudeNet 3.x's 320n.onnx outputs.
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
# Parts whose exposure is unsuitable attire on a marketing stream; the rest is ignored.
UNSUITABLE = frozenset({"BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED",
                        "ANUS_EXPOSED", "MALE_GENITALIA_EXPOSED"})


@dataclass(frozen=True)
class BodyPart:
    label: str
    score: float
    box: tuple[float, float, float, float]


def locate_nudenet_model() -> Path | None:
    return next(installed_files("nudenet", lambda entry: entry.name.endswith(".onnx")), None)


def configured_model_path(explicit: str | Path | None = None) -> Path | None:
    """The model the user enabled, or None when the plugin is off."""
    choice = str(explicit) if explicit is not None else os.environ.get(ENV_MODEL, "")
    if not choice:
        return None
    if choice == "auto":
        found = locate_nudenet_model()
        if found is None:
            raise WeightsNotFoundError(f"{ENV_MODEL}=auto but nudenet is not installed")
        return found
    path = Path(choice).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"exposure model {path} does not exist")
    return path


class ExposureDetector:
    """Runs the YOLOv8 detector on batches of RGB frames (ONNX Runtime; `backend` sets its threads,
    providers and device, `threads` alone is the common case)."""

    def __init__(self, model_path: str | Path, *, min_score: float = 0.45, threads: int = 1,
                 backend: BackendOptions | None = None) -> None:
        from liveinspect.backends.onnx import OnnxBackend

        options = backend or BackendOptions(kind="onnx", threads=threads)
        if options.kind != "onnx":
            raise LiveInspectError("the exposure detector is an ONNX model; use an onnx backend")
        self.backend = OnnxBackend(model_path, options)
        self._input, self._output = self.backend.input_names[0], self.backend.output_names[0]
        self.size = 320
        self.min_score = min_score
        self.version = f"nudenet-{Path(model_path).name}"

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[BodyPart]]:
        if not len(images):
            return []
        prepared = [self._prepare(image) for image in images]
        blobs = np.stack([blob for blob, _ in prepared])
        outputs = self.backend.run({self._input: blobs})[self._output]  # the batch axis is dynamic
        return [decode_yolo(out, side / self.size, self.min_score, image.shape[:2])
                for out, (_, side), image in zip(outputs, prepared, images, strict=True)]

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, int]:
        import cv2

        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise LiveInspectError("exposure detector expects RGB uint8 images")
        side = max(image.shape[:2])
        padded = np.zeros((side, side, 3), np.uint8)  # pad right/bottom so boxes keep their origin
        padded[:image.shape[0], :image.shape[1]] = image
        resized = cv2.resize(padded, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return resized.transpose(2, 0, 1).astype(np.float32) / 255.0, side


def decode_yolo(output: np.ndarray, scale: float, min_score: float,
                image_shape: tuple[int, int]) -> list[BodyPart]:
    """YOLOv8 head output (4 + classes, anchors) -> boxes in image pixels after NMS."""
    import cv2

    rows = output.T
    scores = rows[:, 4:].max(axis=1)
    keep = scores >= min_score
    rows, scores = rows[keep], scores[keep]
    if not len(rows):
        return []
    classes = rows[:, 4:].argmax(axis=1)
    cx, cy, w, h = (rows[:, i] * scale for i in range(4))
    height, width = image_shape
    x0, y0 = np.clip(cx - w / 2, 0, width), np.clip(cy - h / 2, 0, height)
    x1, y1 = np.clip(cx + w / 2, 0, width), np.clip(cy + h / 2, 0, height)
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    picked = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), min_score, 0.45)
    return [BodyPart(NUDENET_LABELS[int(classes[i])], float(scores[i]),
                     (float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i])))
            for i in np.asarray(picked).reshape(-1)]
