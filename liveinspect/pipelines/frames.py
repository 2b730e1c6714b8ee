"""FrameAnalyzer: OCR, QR/contact codes, faces, CLIP scenes and (opt-in) exposure on frames and covers.

One analyzer over several small models, so a frame is handed to the batcher
once and every stage sees the same batch. Frames that are near-duplicates of
the last frame inspected in their segment (perceptual hash plus a tile check)
are not inspected again: the inspected frame's item carries `t_end` up to its
last duplicate, so a static banner is read once with the span it was shown.
The first frame of every segment is always inspected, so each segment's
findings point at a frame of that segment (whose thumbnail the orchestrator
still holds), and repeats across segments are merged by the orchestrator.

Stages that cannot run (no CLIP weights, exposure plugin off) are listed by
`component_statuses()` for the report.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage
from liveinspect.pipelines.frame_stages import (
    FaceStage,
    FindingFactory,
    FrameItem,
    FrameStage,
    StageOptions,
    build_stages,
)
from liveinspect.pipelines.phash import NearDuplicateFilter
from liveinspect.schema import AnalyzerStatus, Modality, TextItem


class FrameAnalyzer(Analyzer):
    name = "frames"
    batch_size = 8

    def __init__(self, *, skip_duplicates: bool = True, max_hash_distance: int = 6,
                 policy: Any = None, stages: Sequence[FrameStage] | None = None,
                 **options: Any) -> None:
        """`options` are `StageOptions` fields (ocr=, codes=, faces=, clip_model=,
        clip_checkpoint=, clip_text_model_dir=, clip_heads=, scene_prompts=, qr_rules=,
        exposure_model=, ...). `stages` replaces the built stages entirely (tests, benchmarks).
        """
        if policy is None:
            from liveinspect.policy import load_policy

            policy = load_policy()
        self.policy = policy
        self.skip_duplicates = skip_duplicates
        self.max_hash_distance = max_hash_distance
        if stages is None:
            self.stages, self._skipped = build_stages(StageOptions(**options), policy)
        else:
            self.stages, self._skipped = list(stages), []
        self._make = FindingFactory(policy)
        self._texts = TextRuns()
        self.seconds: dict[str, float] = {stage.name: 0.0 for stage in self.stages}
        self.frames_seen = 0
        self.frames_inspected = 0

    # -- what the report says about this analyzer -------------------------------------

    def unavailable_reason(self) -> str | None:
        if self.stages:
            return None
        return "no frame stage can run: " + "; ".join(f"{s.name}: {s.reason}" for s in self._skipped)

    @property
    def model_name(self) -> str:
        return "frames[" + ", ".join(stage.name for stage in self.stages) + "]"

    @property
    def model_version(self) -> str:
        return "; ".join(f"{stage.name}={stage.version}" for stage in self.stages)

    def component_statuses(self) -> list[AnalyzerStatus]:
        """One status per stage: ran (with model version) or skipped (with the reason)."""
        ran = [AnalyzerStatus(name=f"frames.{stage.name}", state="ran", model=stage.name,
                              model_version=stage.version, seconds=round(self.seconds[stage.name], 3))
               for stage in self.stages]
        return ran + list(self._skipped)

    def stage(self, name: str) -> FrameStage | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    @property
    def presence(self) -> dict[str, list[tuple[float | None, float | None, int]]]:
        """Per stream: (t_start, t_end, number of faces) for every inspected frame."""
        faces = self.stage("faces")
        return faces.presence if isinstance(faces, FaceStage) else {}

    # -- the analyzer protocol -------------------------------------------------------

    def preprocess(self, segment: Segment) -> list[FrameItem]:
        items: list[FrameItem] = []
        duplicates = NearDuplicateFilter(max_distance=self.max_hash_distance)
        for frame in segment.frames:
            self.frames_seen += 1
            if not isinstance(frame.image, np.ndarray) or frame.image.ndim != 3 \
                    or frame.image.dtype != np.uint8:
                raise LiveInspectError(f"frame {frame.index}: expected an RGB uint8 image, got "
                                       f"{getattr(frame.image, 'shape', type(frame.image).__name__)}")
            if self.skip_duplicates:
                if frame.scene_change:
                    duplicates.reset()
                if duplicates.is_duplicate(frame.image) and items:
                    items[-1].t_end = frame.t
                    continue
            items.append(FrameItem(image=frame.image, modality=Modality.frame, frame_index=frame.index,
                                   t_start=frame.t, t_end=frame.t, stream_id=segment.stream_id,
                                   segment=(segment.stream_id, segment.index)))
        if items:
            items[-1].last_in_segment = True
        self.frames_inspected += len(items)
        return items

    def preprocess_image(self, still: StillImage) -> list[FrameItem]:
        return [FrameItem(image=still.image, modality=still.modality, name=still.name)]

    def forward(self, batch: Sequence[FrameItem]) -> list[list[Any]]:
        """Every stage over the whole batch; output i holds each stage's result for item i."""
        images = [item.image for item in batch]
        per_stage = []
        for stage in self.stages:
            started = time.perf_counter()
            results = stage.run(images)
            self.seconds[stage.name] += time.perf_counter() - started
            per_stage.append(results)
        return [[results[i] for results in per_stage] for i in range(len(batch))]

    def finish(self, stream_id: str) -> AnalyzerOutput:
        details = {}
        for stage in self.stages:
            details.update(stage.finish(stream_id))
        return AnalyzerOutput(details={key: value for key, value in details.items() if value})

    def postprocess(self, item: FrameItem, output: list[Any]) -> AnalyzerOutput:
        results = {stage.name: result for stage, result in zip(self.stages, output, strict=True)}
        if "ocr" in results and results.get("qr"):
            # OCR reads a QR code's modules as junk glyphs; the code itself is reported by the QR stage.
            code_boxes = [code.box for code in results["qr"]]
            results["ocr"] = [line for line in results["ocr"]
                              if not any(_centre_inside(line.box, box) for box in code_boxes)]
        combined = AnalyzerOutput()
        for stage in self.stages:
            combined.extend(stage.report(item, results[stage.name], self._make))
        if item.segment is not None:
            combined.texts = self._texts.add(item, combined.texts)
        return combined


class TextRuns:
    """Merges a line of text seen on consecutive inspected frames of a segment into one TextItem.

    The set's fixed captions stay on screen while subtitles change, so whole
    frames differ but those lines do not; they are reported once per run with
    the span they were shown. Texts are held until the segment's last item,
    which the orchestrator postprocesses together with the rest of the
    segment, so the frames they point at are still there for thumbnails.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, int], dict[str, TextItem]] = {}
        self._done: dict[tuple[str, int], list[TextItem]] = {}
        self._lock = threading.Lock()

    def add(self, item: FrameItem, texts: list[TextItem]) -> list[TextItem]:
        key = item.segment
        with self._lock:
            running = self._open.setdefault(key, {})
            finished = self._done.setdefault(key, [])
            current: dict[str, TextItem] = {}
            for text in texts:
                line = "".join(text.text.split()).casefold()
                if line in running:
                    running[line].t_end = text.t_end
                    current[line] = running.pop(line)
                elif line not in current:
                    current[line] = text
            finished.extend(running.values())  # not seen on this frame: the run ended
            self._open[key] = current
            if not item.last_in_segment:
                return []
            del self._open[key]
            finished = self._done.pop(key)
        return sorted([*finished, *current.values()], key=lambda t: (t.t_start or 0.0, t.box.y0 if t.box
                                                                      else 0.0))


def _centre_inside(inner: Sequence[float], outer: Sequence[float]) -> bool:
    x, y = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= x <= outer[2] and outer[1] <= y <= outer[3]


def inspect_images(analyzer: FrameAnalyzer, images: Sequence[np.ndarray], *,
                   modality: Modality = Modality.frame, fps: float = 1.0) -> AnalyzerOutput:
    """Run the analyzer over bare images as one segment (frame i at i / fps seconds), no batcher."""
    from liveinspect.media.segment import Frame

    frames = [Frame(index=i, t=i / fps, image=image) for i, image in enumerate(images)]
    if modality is Modality.cover:
        items = [item for image in images
                 for item in analyzer.preprocess_image(StillImage(image=image))]
    else:
        items = analyzer.preprocess(Segment(index=0, t0=0.0, t1=len(images) / fps, frames=frames))
    output = AnalyzerOutput()
    for start in range(0, len(items), analyzer.batch_size):
        batch = items[start:start + analyzer.batch_size]
        for item, result in zip(batch, analyzer.forward(batch), strict=True):
            output.extend(analyzer.postprocess(item, result))
    return output


def save_thumbnail(image: np.ndarray, boxes: Sequence[Any], path: str | Path, *,
                   max_side: int = 480) -> Path:
    """Write a JPEG of `image` with `boxes` (schema Boxes or x0, y0, x1, y1 tuples) drawn in red."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(2, round(max(picture.size) / 240))
    for box in boxes:
        corners = (box.x0, box.y0, box.x1, box.y1) if hasattr(box, "x0") else tuple(box)
        draw.rectangle(corners, outline=(255, 0, 0), width=width)
    picture.thumbnail((max_side, max_side))
    path = Path(path)
    picture.save(path, format="JPEG", quality=85)
    return path
