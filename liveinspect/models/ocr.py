"""On-screen text reading with RapidOCR's PP-OCR ONNX models (shipped inside the `rapidocr` wheel).

RapidOCR's own `__call__` reads one image at a time. Here detection still runs
per image (its input size depends on the image), but the text lines cut out
of every image of a batch go through the direction classifier and the
recogniser together, which is where the per-call overhead is.

Why OCR is not one `Backend`: it is three ONNX models in a chain whose
middle is not a tensor operation: the detector's probability map becomes
polygons (DB postprocessing), each polygon a rotated crop of its own size,
and the recogniser's output a string (CTC decoding). RapidOCR owns the
three sessions and those steps, all in onnxruntime and numpy (no torch);
the smallest interface that fits is the one here, images in, lines out:
`read_batch(images) -> [[OcrLine]]`.
"""

from __future__ import annotations

import copy
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.media.image import check_array

# Lines the recogniser is less sure of are dropped (RapidOCR's own default).
DEFAULT_MIN_SCORE = 0.5


@dataclass(frozen=True)
class OcrLine:
    """One line of text: its reading, the recogniser's confidence and its pixel box."""

    text: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input image


def rapidocr_version() -> str:
    try:
        return importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _shipped_model_dir() -> Path | None:
    try:
        import rapidocr
    except ImportError:
        return None
    folder = Path(rapidocr.__file__).parent / "models"
    return folder if any(folder.glob("*.onnx")) else None


class OcrEngine:
    """Reads text lines with boxes from RGB uint8 images.

    `max_threads` bounds ONNX Runtime's intra-op threads (the edge nodes share
    few cores between analyzers).
    """

    def __init__(self, *, min_score: float = DEFAULT_MIN_SCORE, max_threads: int | None = None) -> None:
        model_dir = _shipped_model_dir()
        if model_dir is None:
            raise WeightsNotFoundError(
                "rapidocr and its PP-OCR models are not installed; `pip install rapidocr==3.10.0`")
        from rapidocr import RapidOCR

        from liveinspect.backends.onnx import default_threads

        threads = max_threads if max_threads is not None else (default_threads() or -1)
        self._engine = RapidOCR(params={
            "Global.log_level": "error",
            "Global.model_root_dir": str(model_dir),
            "Global.text_score": min_score,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        })
        self.min_score = min_score
        self.version = f"rapidocr-{rapidocr_version()}"

    def read_batch(self, images: Sequence[np.ndarray]) -> list[list[OcrLine]]:
        """Text lines of each image, in reading order (top to bottom, left to right)."""
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        crops: list[np.ndarray] = []
        owners: list[tuple[int, np.ndarray]] = []  # (image position, 4-point box) per crop
        for position, image in enumerate(images):
            bgr = _as_bgr(image)
            detected = self._engine(bgr, use_cls=False, use_rec=False)
            boxes = getattr(detected, "boxes", None)
            if boxes is None or len(boxes) == 0:
                continue
            for points in boxes:
                points = np.asarray(points, dtype=np.float32)
                crops.append(get_rotate_crop_image(bgr, copy.deepcopy(points)))
                owners.append((position, points))
        lines: list[list[OcrLine]] = [[] for _ in images]
        if not crops:
            return lines
        self._engine._load_cls_model()
        self._engine._load_rec_model()
        upright = self._engine.text_cls(crops).img_list
        recognised = self._engine.text_rec(TextRecInput(img=upright))
        for (position, points), text, score in zip(owners, recognised.txts, recognised.scores,
                                                   strict=True):
            text = text.strip()
            # Lines without a letter, digit or CJK character are decoration read as text ("***").
            if score >= self.min_score and any(ch.isalnum() for ch in text):
                lines[position].append(OcrLine(text, float(score), _bounding_box(points)))
        for found in lines:
            found.sort(key=lambda line: (round(line.box[1] / 8), line.box[0]))
        return lines

    def read(self, image: np.ndarray) -> list[OcrLine]:
        return self.read_batch([image])[0]


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise LiveInspectError(f"OCR expects an RGB uint8 image of shape (H, W, 3), got {shape}")
    # The detector scales the short side up: a thin picture would become a multi-GB array.
    check_array(image, source="OCR input")
    return np.ascontiguousarray(image[:, :, ::-1])  # PP-OCR models were trained on BGR


def _bounding_box(points: np.ndarray) -> tuple[float, float, float, float]:
    xs, ys = points[:, 0], points[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
