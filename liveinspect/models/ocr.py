"""On-screen text reading with RapidOCR's PP-OCR ONNX models (shipped inside the `rapidocr` wheel).

RapidOCR's own `__call__` reads one image at a time. Here detection runs per
image (its input size depends on the image); the text lines cut out of
every image of a batch go through the direction classifier together (a
fixed input size) and through the recogniser one by one (a batch would pad
every line to its widest, which changes readings with the company a line
keeps).

Three things keep a live stream's OCR cheap, where most lines stay on screen
for many frames (a set's captions, a banner):

- The detector reads the frame with its longer side at `det_max_side`
  (736 px) instead of RapidOCR's default, which scales the shorter side up
  to 736 (a 854 x 480 frame became 1309 x 736): 2.4x fewer pixels, and on
  the demo's frames the same lines (checked by tests/test_ocr_speed.py).
- A line already read is not read again: `LineCache` keeps the pixels
  around recently recognised lines and their text; a line detected at the
  same place whose pixels there are unchanged, cell by cell (each about one
  character wide, so one changed digit in a long price line is a changed
  cell), takes the cached reading and skips the direction classifier and the
  recogniser.
- The detector reads only what changed: `ChangedRegions` compares a frame
  with the stream's earlier frames block by block and detects lines only in
  the groups of changed blocks, keeping the earlier boxes elsewhere.

The last two remember per stream (`read_batch(images, streams)`), so what a frame
gives depends on its own stream's earlier frames only: concurrent scans
sharing one engine and its batches read what sequential scans read.

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
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.media.image import check_array

# Lines the recogniser is less sure of are dropped (RapidOCR's own default).
DEFAULT_MIN_SCORE = 0.5
# The detector's input: longer side at most this many pixels (never scaled up).
DEFAULT_DET_MAX_SIDE = 736
EDGE_PX = 3  # a detected box this close to a crop's cut edge was cut by it
CONTEXT_PX = 48  # unchanged picture around a changed region that its detection reads too
MAX_STREAMS = 64  # streams whose earlier frames an engine remembers


class LineCache:
    """Recognised lines by what is on screen where they were: a line whose pixels are unchanged
    takes its earlier reading.

    An entry keeps the grey pixels of a read line's box, grown by `margin` pixels, and the reading.
    A new line whose box lies inside an entry's region is compared with the entry on exactly those
    frame coordinates (so the detector moving a box by a pixel does not matter): over cells as wide
    as the region is high (about one character), the worst cell's mean absolute difference must stay
    below `max_cell_difference` grey levels. Compression noise on a static caption stays below ~3; a
    different character moves its cell by tens.
    """

    def __init__(self, capacity: int = 128, *, margin: int = 4, max_cell_difference: float = 6.0) -> None:
        self.capacity = capacity
        self.margin = margin
        self.max_cell_difference = max_cell_difference
        # key -> (region x0, y0, x1, y1, frame shape, grey pixels of the region, text, score)
        self._entries: OrderedDict[int, tuple] = OrderedDict()
        self._next = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _region(self, box: tuple[float, float, float, float], shape: tuple[int, ...]) -> tuple[int, ...]:
        x0, y0, x1, y1 = box
        m = self.margin
        return (max(0, int(x0) - m), max(0, int(y0) - m), min(shape[1], int(np.ceil(x1)) + m),
                min(shape[0], int(np.ceil(y1)) + m))

    def _unchanged(self, before: np.ndarray, now: np.ndarray) -> bool:
        side = max(1, before.shape[0])
        difference = np.abs(before.astype(np.int16) - now.astype(np.int16))
        cells = [difference[:, start:start + side].mean() for start in range(0, difference.shape[1], side)]
        return max(cells, default=0.0) < self.max_cell_difference

    def lookup(self, grey: np.ndarray, box: tuple[float, float, float, float]) -> tuple[str, float] | None:
        """The cached (text, score) for the line at `box` of the frame `grey`, if unchanged there."""
        x0, y0, x1, y1 = box
        with self._lock:
            for key in reversed(self._entries):
                rx0, ry0, rx1, ry1, shape, pixels, text, score = self._entries[key]
                if shape != grey.shape or not (rx0 <= x0 and ry0 <= y0 and x1 <= rx1 and y1 <= ry1):
                    continue
                # ... and not a small box inside a big region: the line must fill most of it.
                if (x1 - x0) < 0.8 * (rx1 - rx0 - 2 * self.margin):
                    continue
                if self._unchanged(pixels, grey[ry0:ry1, rx0:rx1]):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return text, score
            self.misses += 1
        return None

    def store(self, grey: np.ndarray, box: tuple[float, float, float, float], text: str,
              score: float) -> None:
        x0, y0, x1, y1 = self._region(box, grey.shape)
        with self._lock:
            self._entries[self._next] = (x0, y0, x1, y1, grey.shape, grey[y0:y1, x0:x1].copy(), text, score)
            self._next += 1
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


class ChangedRegions:
    """Where to run the text detector: only where a frame differs from one detected before.

    The engine remembers the last `history` frames it detected (grey, at 1/`scale` size) with their
    line boxes. For a new frame of the same size, the remembered frame it differs from least is
    compared block by block (`block` pixels at full size); blocks whose mean absolute difference
    exceeds `threshold` grey levels changed. Nothing changed: the old boxes stand. More than
    `max_changed` of the frame changed: the whole frame is detected. Otherwise each group of
    changed blocks, grown by a block and by every old box it touches (so a changed line is read
    whole, never cut at the group's edge), is detected as a crop, and the old boxes outside every
    group stand. New text changes the pixels it covers, so it always falls inside a group.
    """

    def __init__(self, *, history: int = 4, scale: int = 4, block: int = 32, threshold: float = 6.0,
                 max_changed: float = 0.5) -> None:
        self.history, self.scale, self.block = history, scale, block
        self.threshold, self.max_changed = threshold, max_changed
        self._frames: list[tuple[np.ndarray, list[np.ndarray]]] = []  # (small grey, boxes)
        self._lock = threading.Lock()

    def _small(self, grey: np.ndarray) -> np.ndarray:
        h, w = grey.shape[0] // self.scale, grey.shape[1] // self.scale
        return grey[: h * self.scale, : w * self.scale].reshape(h, self.scale, w, self.scale) \
            .mean(axis=(1, 3)).astype(np.float32)

    def plan(self, grey: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int, int, int]]]:
        """(the frame's small grey, the old boxes that stand, full-size rectangles to detect in)."""
        small = self._small(grey)
        full = [(0, 0, grey.shape[1], grey.shape[0])]
        with self._lock:
            candidates = [(f, b) for f, b in self._frames if f.shape == small.shape]
        if not candidates:
            return small, [], full
        cell = max(1, self.block // self.scale)
        # The last row and column of blocks may be partial: they are compared over what they hold.
        rows, cols = -(-small.shape[0] // cell), -(-small.shape[1] // cell)
        pad = ((0, rows * cell - small.shape[0]), (0, cols * cell - small.shape[1]))

        def changed_blocks(old: np.ndarray) -> np.ndarray:
            diff = np.pad(np.abs(small - old), pad)
            counts = np.pad(np.ones_like(small), pad).reshape(rows, cell, cols, cell).sum(axis=(1, 3))
            return diff.reshape(rows, cell, cols, cell).sum(axis=(1, 3)) / np.maximum(counts, 1) \
                > self.threshold

        masks = [(changed_blocks(f), b) for f, b in candidates]
        mask, boxes = min(masks, key=lambda m: int(m[0].sum()))
        if mask.mean() > self.max_changed:
            return small, [], full
        if not mask.any():
            return small, list(boxes), []
        rects = self._groups(mask, grey.shape, boxes)
        kept = [b for b in boxes if not any(_overlaps(_bounding_box(b), r) for r in rects)]
        return small, kept, rects

    def _groups(self, mask: np.ndarray, shape: tuple[int, ...],
                boxes: list[np.ndarray]) -> list[tuple[int, int, int, int]]:
        import cv2

        grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
        count, labels = cv2.connectedComponents(grown, connectivity=8)
        rects = []
        for index in range(1, count):
            ys, xs = np.nonzero(labels == index)
            last_col, last_row = int(xs.max()) == mask.shape[1] - 1, int(ys.max()) == mask.shape[0] - 1
            rects.append((int(xs.min()) * self.block, int(ys.min()) * self.block,
                          shape[1] if last_col else (int(xs.max()) + 1) * self.block,
                          shape[0] if last_row else (int(ys.max()) + 1) * self.block))
        # Grow each group over the old boxes it touches, and merge groups that come to overlap.
        changed = True
        while changed:
            changed = False
            for i, rect in enumerate(rects):
                for box in boxes:
                    b = _bounding_box(box)
                    if _overlaps(b, rect) and not _contains(rect, b):
                        pad = 3 * EDGE_PX
                        rects[i] = rect = (min(rect[0], int(b[0]) - pad), min(rect[1], int(b[1]) - pad),
                                           max(rect[2], int(np.ceil(b[2])) + pad),
                                           max(rect[3], int(np.ceil(b[3])) + pad))
                        changed = True
            for i in range(len(rects)):
                for j in range(i + 1, len(rects)):
                    if _overlaps(rects[i], rects[j]):
                        a, b = rects[i], rects.pop(j)
                        rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                        changed = True
                        break
                if changed:
                    break
        return [(max(0, x0), max(0, y0), min(shape[1], x1), min(shape[0], y1)) for x0, y0, x1, y1 in rects]

    def remember(self, small: np.ndarray, boxes: list[np.ndarray]) -> None:
        with self._lock:
            self._frames.append((small, list(boxes)))
            del self._frames[: -self.history]


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _contains(outer: Sequence[float], inner: Sequence[float]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


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

    def __init__(self, *, min_score: float = DEFAULT_MIN_SCORE, max_threads: int | None = None,
                 det_max_side: int | None = DEFAULT_DET_MAX_SIDE, cache: bool = True) -> None:
        """`det_max_side=None`: RapidOCR's own detector sizing (shorter side scaled up to 736);
        `cache=False`: nothing remembered of a stream's earlier frames, every frame read whole (see
        the module docstring)."""
        model_dir = _shipped_model_dir()
        if model_dir is None:
            raise WeightsNotFoundError(
                "rapidocr and its PP-OCR models are not installed; `pip install rapidocr==3.10.0`")
        from rapidocr import RapidOCR

        from liveinspect.backends.onnx import default_threads

        threads = max_threads if max_threads is not None else (default_threads() or -1)
        params = {
            "Global.log_level": "error",
            "Global.model_root_dir": str(model_dir),
            "Global.text_score": min_score,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        }
        if det_max_side is not None:
            params.update({"Det.limit_type": "max", "Det.limit_side_len": int(det_max_side)})
        self._engine = RapidOCR(params=params)
        self._quiet_sessions(threads)
        self.det_max_side = det_max_side
        self.remember_streams = cache
        # Per stream: what its earlier frames showed (ChangedRegions, LineCache), the most recently
        # used streams only, so a long-running node's memory stays bounded.
        self._streams: OrderedDict[str, tuple[ChangedRegions, LineCache]] = OrderedDict()
        self._streams_lock = threading.Lock()
        self.detected_share: list[float] = []  # per frame: share of its pixels the detector read
        self.line_hits = 0
        self.line_misses = 0
        self.min_score = min_score
        self.version = f"rapidocr-{rapidocr_version()}"

    def _quiet_sessions(self, threads: int) -> None:
        """RapidOCR's three sessions again, with idle threads that sleep instead of spinning (RapidOCR
        has no setting for it; see `liveinspect.backends.onnx.session_options` for why it matters)."""
        import onnxruntime

        from liveinspect.backends.base import BackendOptions
        from liveinspect.backends.onnx import session_options

        for load in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
            getattr(self._engine, load, lambda: None)()
        options = session_options(BackendOptions(kind="onnx", threads=threads if threads > 0 else None))
        for part in (self._engine.text_det, self._engine.text_cls, self._engine.text_rec):
            wrapper = getattr(part, "session", None)
            if wrapper is None or not hasattr(wrapper, "session"):
                continue
            path = getattr(wrapper.session, "_model_path", None)
            if path:
                wrapper.session = onnxruntime.InferenceSession(str(path), options,
                                                               providers=["CPUExecutionProvider"])

    def _memory(self, stream: str | None) -> tuple[ChangedRegions, LineCache] | None:
        if stream is None or not self.remember_streams:
            return None
        with self._streams_lock:
            memory = self._streams.get(stream)
            if memory is None:
                memory = self._streams[stream] = (ChangedRegions(), LineCache())
                while len(self._streams) > MAX_STREAMS:
                    self._streams.popitem(last=False)
            self._streams.move_to_end(stream)
            return memory

    def forget(self, stream: str) -> None:
        """Drop what the engine remembers of `stream` (its scan ended)."""
        with self._streams_lock:
            self._streams.pop(stream, None)

    def read_batch(self, images: Sequence[np.ndarray],
                   streams: Sequence[str | None] | None = None) -> list[list[OcrLine]]:
        """Text lines of each image, in reading order (top to bottom, left to right).

        `streams[i]` names the stream image i is a frame of, in the stream's order: its lines are then
        read only where it differs from the stream's earlier frames (see the module docstring). An
        image of no stream (None, or no `streams`) is read whole."""
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        streams = list(streams) if streams is not None else [None] * len(images)
        if len(streams) != len(images):
            raise LiveInspectError(f"{len(images)} images but {len(streams)} stream names")
        memories = [self._memory(stream) for stream in streams]
        crops: list[np.ndarray] = []
        owners: list[tuple[int, np.ndarray]] = []  # (image position, 4-point box) per crop
        greys: list[np.ndarray | None] = []
        for position, image in enumerate(images):
            bgr = _as_bgr(image)
            memory = memories[position]
            greys.append(_grey(image) if memory is not None else None)
            boxes = self._detect(bgr, greys[-1], memory[0] if memory else None)
            for points in boxes:
                points = np.asarray(points, dtype=np.float32)
                crops.append(get_rotate_crop_image(bgr, copy.deepcopy(points)))
                owners.append((position, points))
        lines: list[list[OcrLine]] = [[] for _ in images]
        if not crops:
            return lines
        readings: list[tuple[str, float] | None] = [
            memories[position][1].lookup(greys[position], _bounding_box(points))
            if memories[position] is not None else None for position, points in owners]
        pending = [i for i, reading in enumerate(readings) if reading is None]
        self.line_hits += len(readings) - len(pending)
        self.line_misses += len(pending)
        if pending:
            self._engine._load_cls_model()
            self._engine._load_rec_model()
            upright = self._engine.text_cls([crops[i] for i in pending]).img_list
            # One line per recogniser call: a batch pads every line to its widest, which changed 3 of
            # 90 demo readings with the company a line kept (and was no faster), so a line would read
            # differently in a concurrent scan's batch than alone.
            recognised = [self._engine.text_rec(TextRecInput(img=[crop])) for crop in upright]
            texts = [r.txts[0] if len(r.txts) else "" for r in recognised]
            scores = [float(r.scores[0]) if len(r.scores) else 0.0 for r in recognised]
            for i, text, score in zip(pending, texts, scores, strict=True):
                readings[i] = (text, float(score))
                position, points = owners[i]
                if memories[position] is not None:
                    memories[position][1].store(greys[position], _bounding_box(points), text, float(score))
        for (position, points), (text, score) in zip(owners, readings, strict=True):
            text = text.strip()
            # Lines without a letter, digit or CJK character are decoration read as text ("***").
            if score >= self.min_score and any(ch.isalnum() for ch in text):
                lines[position].append(OcrLine(text, float(score), _bounding_box(points)))
        for found in lines:
            found.sort(key=lambda line: (round(line.box[1] / 8), line.box[0]))
        return lines

    def _detect(self, bgr: np.ndarray, grey: np.ndarray | None,
                regions: ChangedRegions | None) -> list[np.ndarray]:
        """Line boxes (4 points each) of one image: where it changed, read anew (see ChangedRegions)."""
        height, width = bgr.shape[:2]
        whole = [(0, 0, width, height)]
        small, kept, rects = regions.plan(grey) if regions is not None and grey is not None else \
            (None, [], whole)
        if rects == whole or self.det_max_side is None:
            boxes = self._boxes(bgr)
            self.detected_share.append(1.0)
        else:
            boxes = list(kept) + self._detect_regions(bgr, rects)
        if regions is not None and small is not None:
            regions.remember(small, boxes)
        return boxes

    def _boxes(self, image: np.ndarray) -> list[np.ndarray]:
        detected = self._engine(np.ascontiguousarray(image), use_cls=False, use_rec=False)
        boxes = getattr(detected, "boxes", None)
        return [] if boxes is None or len(boxes) == 0 else [np.asarray(b, np.float32) for b in boxes]

    def _detect_regions(self, bgr: np.ndarray, rects: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Boxes that reach into `rects`, detected on windows of the frame as the detector sees the whole
        frame: the frame is resized once as RapidOCR resizes it, and each window (the rect with
        CONTEXT_PX of picture around it) is cut on the network's 32-pixel grid, so the network reads
        the same pixels at the same scale; boxes are mapped back and rounded as RapidOCR maps its own.
        Boxes at a window's cut edge are dropped (something the window cut through: a shelf of
        bottles read as "olo0oo0o"); changed text lies well inside its window."""
        import cv2

        height, width = bgr.shape[:2]
        ratio = min(1.0, self.det_max_side / max(height, width))
        size_h = max(32, int(round(int(height * ratio) / 32) * 32))
        size_w = max(32, int(round(int(width * ratio) / 32) * 32))
        resized = cv2.resize(bgr, (size_w, size_h))
        sx, sy = size_w / width, size_h / height
        found: list[np.ndarray] = []
        area = 0
        for rect in rects:
            x0 = max(0, int(np.floor((rect[0] - CONTEXT_PX) * sx / 32)) * 32)
            y0 = max(0, int(np.floor((rect[1] - CONTEXT_PX) * sy / 32)) * 32)
            x1 = min(size_w, int(np.ceil((rect[2] + CONTEXT_PX) * sx / 32)) * 32)
            y1 = min(size_h, int(np.ceil((rect[3] + CONTEXT_PX) * sy / 32)) * 32)
            area += (x1 - x0) * (y1 - y0)
            for box in self._boxes(resized[y0:y1, x0:x1]):
                bx0, by0, bx1, by1 = _bounding_box(box)
                cut = ((x0 > 0 and bx0 <= EDGE_PX) or (y0 > 0 and by0 <= EDGE_PX)
                       or (x1 < size_w and bx1 >= x1 - x0 - EDGE_PX)
                       or (y1 < size_h and by1 >= y1 - y0 - EDGE_PX))
                if cut:
                    continue
                mapped = (box + np.array([x0, y0], np.float32)) / np.array([sx, sy], np.float32)
                mapped = np.clip(np.round(mapped), 0, [width, height]).astype(np.float32)
                if _overlaps(_bounding_box(mapped), rect):
                    found.append(mapped)
        self.detected_share.append(area / float(size_w * size_h))
        return found

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


def _grey(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB uint8 image (BT.601 weights), uint8."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return (image.astype(np.float32) @ weights).round().astype(np.uint8)


def _bounding_box(points: np.ndarray) -> tuple[float, float, float, float]:
    xs, ys = points[:, 0], points[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
