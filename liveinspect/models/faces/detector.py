"""Face detection with MTCNN (Zhang et al. 2016): numpy pre- and postprocessing, three nets behind a backend.

Everything around the nets is numpy and OpenCV: the image pyramid (OpenCV's
area resampling, each output pixel the overlap-weighted mean of the input
pixels it covers, as the original MTCNN code resized its pyramid), candidate
windows, non-maximum suppression, box regression and the bilinear crops for
the second and third stage (`roi_align` with aligned corners, every box of
an image gathered at once). The nets (`nets.py`) run on ONNX Runtime by
default, from `pnet.onnx`, `rnet.onnx` and `onet.onnx`: an export's folder,
or the weight files facenet-pytorch ships exported once (needs torch) into
the cache folder (`LIVEINSPECT_CACHE`, else `~/.cache/liveinspect`) under
the weights' SHA-256, since ONNX Runtime runs these small convolutions
3-4x faster than torch eager on a CPU. `backend="torch"` runs the modules.

Batching: the proposal net (P-Net) is fully convolutional and runs per image
over its pyramid; the refinement (R-Net) and output (O-Net) stages run once
over the candidate boxes of every image in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
import tempfile
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import numpy as np

from liveinspect.backends.base import Backend, BackendOptions, backend_options, precision_variant
from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.models.packaged import cache_dir, installed_files

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
ONNX_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
WEIGHTS_HINT = ("install the MTCNN weight files with `pip install --no-deps facenet-pytorch==2.6.0` "
                "or pass weights_dir= a folder holding pnet.pt, rnet.pt and onet.pt")
ONNX_HINT = ("write them where torch is installed with "
             "`liveinspect.models.faces.export_mtcnn_onnx(folder)` and pass onnx_dir=folder")


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input image
    score: float
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def locate_mtcnn_weights() -> Path | None:
    """The folder of the MTCNN weight files shipped by an installed facenet-pytorch, if any."""
    for pnet in installed_files("facenet-pytorch", lambda entry: entry.name == "pnet.pt"):
        if all((pnet.parent / name).is_file() for name in WEIGHT_FILES):
            return pnet.parent
    return None


def export_mtcnn_onnx(out_dir: str | Path, weights_dir: str | Path | None = None) -> list[Path]:
    """Export the three nets to ONNX in `out_dir` (needs torch), for `FaceDetector(backend="onnx")`."""
    from liveinspect.models.faces.nets import export_onnx

    return export_onnx(_weights_folder(weights_dir), out_dir)


_EXPORT_LOCK = Lock()


def cached_mtcnn_onnx(weights_dir: str | Path | None = None) -> Path:
    """The folder of the three nets as ONNX, exported from the torch weight files (the packaged
    ones unless given) on first use and kept in the cache folder under their SHA-256."""
    from liveinspect.models.checkpoint import file_sha256

    source = _weights_folder(weights_dir)
    digest = "".join(file_sha256(source / name)[:8] for name in WEIGHT_FILES)
    folder = cache_dir() / "mtcnn-onnx" / digest
    with _EXPORT_LOCK:
        if not all((folder / name).is_file() for name in ONNX_FILES):
            try:
                import torch  # noqa: F401 - the export needs it
            except ImportError as error:
                raise WeightsNotFoundError(f"MTCNN on ONNX Runtime needs its .onnx files; {ONNX_HINT}") \
                    from error
            import shutil

            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
                # Written beside and renamed into place: no process reads a half-written file.
                partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{digest}-"))
            except OSError as error:
                raise LiveInspectError(f"cannot write MTCNN's ONNX files into {folder.parent}: "
                                       f"{error.strerror or error}; set LIVEINSPECT_CACHE to a writable "
                                       "folder, or run the nets on torch (--faces-backend torch)") from error
            try:
                export_mtcnn_onnx(partial, source)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            try:
                partial.rename(folder)
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
                if not all((folder / name).is_file() for name in ONNX_FILES):
                    raise
                # else another process renamed its copy into place first
    return folder


def _weights_folder(weights_dir: str | Path | None) -> Path:
    folder = Path(weights_dir) if weights_dir is not None else locate_mtcnn_weights()
    if folder is None or not all((folder / n).is_file() for n in WEIGHT_FILES):
        raise WeightsNotFoundError(f"MTCNN weights not found; {WEIGHTS_HINT}")
    return folder


def _backends(weights_dir: str | Path | None, onnx_dir: str | Path | None,
              options: BackendOptions) -> dict[str, Backend]:
    # An exported folder may be given as either: it holds the .onnx files instead of the .pt ones.
    given = Path(onnx_dir if onnx_dir is not None else weights_dir) if (onnx_dir or weights_dir) else None
    exported = given is not None and (given / ONNX_FILES[0]).is_file() \
        and not (given / WEIGHT_FILES[0]).is_file()
    if options.kind == "onnx" or exported:
        from liveinspect.backends.onnx import OnnxBackend

        options = options.with_kind("onnx")
        folder = given if exported or onnx_dir is not None else cached_mtcnn_onnx(weights_dir)
        files = [precision_variant(Path(n), options.precision).name for n in ONNX_FILES]
        if folder is None or not all((folder / n).is_file() for n in files):
            raise WeightsNotFoundError(f"MTCNN on ONNX Runtime needs {', '.join(files)}; {ONNX_HINT}")
        nets = ("pnet", "rnet", "onet")
        return {name: OnnxBackend(folder / file, options) for name, file in zip(nets, files, strict=True)}
    folder = _weights_folder(weights_dir)
    from liveinspect.models.faces.nets import torch_backends

    return dict(torch_backends(folder, options))


class FaceDetector:
    """MTCNN over RGB uint8 images; `detect_batch` returns faces per image, largest first.

    `max_side` downsizes big frames before detection (presenters' faces are
    large; the pyramid cost grows with the image area). `backend` chooses
    the runtime of the nets: "onnx" (default) with `onnx_dir` or an exported
    `weights_dir`, else the cached export of the torch weights; or "torch"
    (CPU unless a device is named) with `weights_dir`.
    """

    def __init__(self, weights_dir: str | Path | None = None, *, min_face_size: int = 24,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
                 factor: float = 0.709, max_side: int = 720,
                 backend: BackendOptions | str | None = None, onnx_dir: str | Path | None = None) -> None:
        options = backend_options(backend if backend is not None else "onnx")
        if options.kind == "torch" and options.device is None:
            # Small nets on many small inputs: transfers would cost more than a GPU saves.
            options = BackendOptions(kind="torch", device="cpu", threads=options.threads,
                                     precision=options.precision)
        self.nets = _backends(weights_dir, onnx_dir, options)
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor
        self.max_side = max_side
        self.version = "mtcnn-facenet-pytorch-2.6.0"

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[FaceBox]]:
        prepared, scales = [], []
        for image in images:
            if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
                raise LiveInspectError(f"expected RGB uint8 images, got {getattr(image, 'shape', image)}")
            shrink = min(1.0, self.max_side / max(image.shape[:2]))
            pixels = image.astype(np.float32)
            if shrink < 1.0:
                pixels = _area_resize(pixels, round(image.shape[0] * shrink), round(image.shape[1] * shrink))
            prepared.append(_Image(pixels))
            scales.append(shrink)
        proposals = self._propose_all(prepared)
        boxes, owners = self._refine(prepared, proposals)
        faces = self._output(prepared, boxes, owners)
        return [sorted((self._rescale(f, s) for f in found), key=lambda f: -f.area)
                for found, s in zip(faces, scales, strict=True)]

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return self.detect_batch([image])[0]

    # -- the three stages -----------------------------------------------------------

    def _propose_all(self, images: list[_Image]) -> list[np.ndarray]:
        """Stage 1 for every image; images of one size (a stream's frames) share each pyramid
        level's P-Net call, so a batch of frames costs one call per level, not one per frame."""
        proposals: list[np.ndarray | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_size.setdefault(image.pixels.shape[:2], []).append(index)
        for (height, width), members in by_size.items():
            found: list[list[np.ndarray]] = [[] for _ in members]
            scale = 12.0 / self.min_face_size
            side = min(height, width) * scale
            while side >= 12:
                size = (int(height * scale + 1), int(width * scale + 1))
                level = np.stack([_area_resize(images[i].pixels, *size) for i in members])
                out = self.nets["pnet"].run({"pixels": _normalise(level.transpose(0, 3, 1, 2))})
                for slot in range(len(members)):
                    level = self._level_candidates(out["offsets"][slot], out["probs"][slot], scale)
                    if level is not None:
                        found[slot].append(level)
                scale *= self.factor
                side *= self.factor
            for slot, index in enumerate(members):
                proposals[index] = self._merge_levels(found[slot])
        return proposals  # type: ignore[return-value]

    def _level_candidates(self, offsets: np.ndarray, probs: np.ndarray, scale: float) -> np.ndarray | None:
        """One pyramid level's candidate windows (in image pixels) with scores and offsets."""
        ys, xs = np.nonzero(probs[1] >= self.thresholds[0])
        if not len(ys):
            return None
        score = probs[1, ys, xs]
        # Each output cell is a 12x12 window with stride 2 in the resized image.
        corners = np.stack([xs, ys, xs, ys], 1).astype(np.float32) * 2
        corners[:, :2] += 1
        corners[:, 2:] += 12
        windows = np.floor(corners / np.float32(scale))
        keep = _nms(windows, score, 0.5)
        shift = offsets[:, ys, xs].T
        return np.concatenate([windows, score[:, None], shift], 1)[keep]

    @staticmethod
    def _merge_levels(found: list[np.ndarray]) -> np.ndarray:
        """Candidate squares (N, 5: x0, y0, x1, y1, score) from every level of one image."""
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        size = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
        refined = boxes[:, :4] + boxes[:, 5:9] * size
        return _square(np.concatenate([refined, boxes[:, 4:5]], 1))

    def _refine(self, images: list[_Image], proposals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2: R-Net over the proposals of every image at once."""
        owners = np.concatenate([np.full(len(p), i) for i, p in enumerate(proposals)]).astype(np.int64)
        boxes = np.concatenate(proposals)
        if not len(boxes):
            return boxes, owners
        out = self.nets["rnet"].run({"pixels": _crops(images, boxes, owners, 24)})
        offsets, probs = out["offsets"], out["probs"]
        keep = probs[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], probs[keep, 1:2]], 1)
        offsets, owners = offsets[keep], owners[keep]
        pick = _batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes = _apply_offsets(boxes[pick], offsets[pick])
        return _square(boxes), owners[pick]

    def _output(self, images: list[_Image], boxes: np.ndarray, owners: np.ndarray) -> list[list[FaceBox]]:
        """Stage 3: O-Net scores, final boxes and landmarks, per image."""
        faces: list[list[FaceBox]] = [[] for _ in images]
        if not len(boxes):
            return faces
        out = self.nets["onet"].run({"pixels": _crops(images, boxes, owners, 48)})
        offsets, points, probs = out["offsets"], out["landmarks"], out["probs"]
        keep = probs[:, 1] > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], probs[keep, 1:2]], 1)
        offsets, points, owners = offsets[keep], points[keep], owners[keep]
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        xs = boxes[:, 0:1] + size[:, 0:1] * points[:, :5] - 1
        ys = boxes[:, 1:2] + size[:, 1:2] * points[:, 5:] - 1
        boxes = _apply_offsets(boxes, offsets)
        for index, image in enumerate(images):
            mine = np.nonzero(owners == index)[0]
            height, width = image.pixels.shape[:2]
            for i in _nms_min(boxes[mine], 0.7):
                row = mine[i]
                x0, y0, x1, y1, score = (float(v) for v in boxes[row])
                box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                marks = tuple(zip(xs[row].tolist(), ys[row].tolist(), strict=True))
                faces[index].append(FaceBox(box, score, marks))
        return faces

    @staticmethod
    def _rescale(face: FaceBox, shrink: float) -> FaceBox:
        if shrink == 1.0:
            return face
        box = tuple(v / shrink for v in face.box)
        marks = tuple((x / shrink, y / shrink) for x, y in face.landmarks)
        return FaceBox(box, face.score, marks)  # type: ignore[arg-type]


class _Image:
    """One frame as the detector reads it: float pixels (H, W, 3) for the pyramid and the
    normalised pixels shifted by +1 for the crops, so that outside the image reads as black."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.shifted = _normalise(pixels) + np.float32(1.0)


def _normalise(pixels: np.ndarray) -> np.ndarray:
    return ((pixels - np.float32(127.5)) * np.float32(0.0078125)).astype(np.float32, copy=False)


def _area_resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 pixels to (height, width, 3) by area resampling: each output pixel is
    the mean of the input it covers, input pixels cut by a window's edge weighted by their
    overlap. OpenCV's SIMD resize: 15x the numpy running-sum version this replaced, which was
    most of the detector's time outside the nets."""
    import cv2

    return cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression (IoU above `threshold` suppressed), best score first."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (boxes[:, k].astype(np.float64) for k in range(4))
    area = (x1 - x0) * (y1 - y0)
    keep = []
    while len(order):
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.clip(np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]), 0, None)
        height = np.clip(np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]), 0, None)
        inter = width * height
        union = area[best] + area[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _batched_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """NMS within each group (image), best score first overall."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    keep = np.concatenate([members[_nms(boxes[members], scores[members], threshold)]
                           for members in (np.nonzero(groups == g)[0] for g in np.unique(groups))])
    return keep[np.argsort(-scores[keep], kind="stable")]


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (the nets expect square crops)."""
    boxes = boxes.copy()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    boxes[:, 0] += (width - side) / 2
    boxes[:, 1] += (height - side) / 2
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    boxes = boxes.copy()
    size = np.tile(boxes[:, 2:4] - boxes[:, 0:2] + 1, 2)
    boxes[:, :4] = boxes[:, :4] + offsets * size
    return boxes


def _sample_axis(start: np.ndarray, end: np.ndarray, size: int, limit: int):
    """Bilinear taps along one axis for `size` bins of two samples each over [start, end) per box
    (pixel centres at integers + 0.5): low and high indices (N, 2 * size) and their weights, which
    are 0 outside the image."""
    step = (end - start) / size
    coords = start[:, None] + (np.arange(2 * size) + 0.5)[None, :] * (step / 2)[:, None]
    valid = (coords >= -1.0) & (coords <= limit)
    coords = np.maximum(coords, 0.0)
    low = np.floor(coords).astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    fraction = np.where(at_edge, 0.0, coords - low)
    return low, high, ((1.0 - fraction) * valid).astype(np.float32), (fraction * valid).astype(np.float32)


CROP_CHUNK = 256  # boxes gathered at once: bounds the (chunk, 2 size, 2 size, 3) sample arrays


def _roi_align(shifted: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, 3, size, size) crops of one image: the mean of 2 x 2 bilinear samples per bin
    (`roi_align` with aligned corners and sampling ratio 2). Pixels are gathered from the
    flattened image, down both row taps at once for each column tap."""
    height, width = shifted.shape[:2]
    y_low, y_high, y_w0, y_w1 = _sample_axis(boxes[:, 1] - 0.5, boxes[:, 3] - 0.5, size, height)
    x_low, x_high, x_w0, x_w1 = _sample_axis(boxes[:, 0] - 0.5, boxes[:, 2] - 0.5, size, width)
    flat = shifted.reshape(-1, 3)
    low_rows, high_rows = (y_low * width)[:, :, None], (y_high * width)[:, :, None]
    samples = np.zeros((len(boxes), 2 * size, 2 * size, 3), np.float32)
    for xs, x_weight in ((x_low, x_w0), (x_high, x_w1)):
        columns = xs[:, None, :]
        down = np.take(flat, low_rows + columns, axis=0) * y_w0[:, :, None, None]
        down += np.take(flat, high_rows + columns, axis=0) * y_w1[:, :, None, None]
        samples += down * x_weight[:, None, :, None]
    # The mean of each bin's 2 x 2 samples as four strided slices (a reshaped mean is 4x slower).
    bins = samples[:, 0::2, 0::2] + samples[:, 1::2, 0::2] + samples[:, 0::2, 1::2] + samples[:, 1::2, 1::2]
    return (bins * np.float32(0.25)).transpose(0, 3, 1, 2)


def _crops(images: list[_Image], boxes: np.ndarray, owners: np.ndarray, size: int) -> np.ndarray:
    """Normalised size x size crops of `boxes`; parts outside the image read as black."""
    crops = np.empty((len(boxes), 3, size, size), np.float32)
    for index, image in enumerate(images):
        mine = np.nonzero(owners == index)[0]
        for first in range(0, len(mine), CROP_CHUNK):
            rows = mine[first:first + CROP_CHUNK]
            shifted_crops = _roi_align(image.shifted, boxes[rows, :4].astype(np.float64), size)
            crops[rows] = shifted_crops - np.float32(1.0)
    return crops


def _nms_min(boxes: np.ndarray, threshold: float) -> list[int]:
    """NMS by intersection over the smaller box, which drops boxes nested in a face."""
    if not len(boxes):
        return []
    x0, y0, x1, y1, score = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = list(np.argsort(-score))
    keep = []
    while order:
        best, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(int(best))
        if not len(rest):
            break
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        overlap = width * height / np.minimum(area[best], area[rest])
        order = list(rest[overlap <= threshold])
    return keep


def crop_face(image: np.ndarray, face: FaceBox, size: int = 160, margin: float = 0.2) -> np.ndarray:
    """A square RGB crop of `face` with `margin` (fraction of the box) around it, for later detectors."""
    from PIL import Image

    x0, y0, x1, y1 = face.box
    grow = margin * max(x1 - x0, y1 - y0) / 2
    height, width = image.shape[:2]
    left, top = int(max(0, x0 - grow)), int(max(0, y0 - grow))
    right, bottom = int(min(width, x1 + grow)), int(min(height, y1 + grow))
    patch = Image.fromarray(image[top:bottom, left:right])
    return np.asarray(patch.resize((size, size), Image.Resampling.BILINEAR))
