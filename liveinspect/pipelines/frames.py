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

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage, StreamState
from liveinspect.pipelines.frame_stages import FrameItem, FrameStage, StageUnavailable
from liveinspect.pipelines.options import option
from liveinspect.pipelines.phash import NearDuplicateFilter
from liveinspect.pipelines.registry import register_analyzer, stage_classes
from liveinspect.schema import AnalyzerStatus, Modality, TextItem


@dataclass(frozen=True)
class FrameOptions:
    skip_duplicates: bool = option(True, flag="--no-dedup",
                                   help="read every sampled frame, even near-duplicates of the last one "
                                        "read")
    max_hash_distance: int = 6  # perceptual-hash bits two frames may differ by and still be duplicates


@dataclass
class FrameStreamState(StreamState):
    """One stream's text runs, each stage's per-stream state and timings, and frame counts."""

    texts: "TextRuns" = field(default_factory=lambda: TextRuns())
    parts: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    frames_seen: int = 0
    frames_inspected: int = 0


@dataclass
class FrameOutput:
    """Each stage's result for one image, and the image's share of each stage's batch time."""

    results: list[Any]
    seconds: list[float]


@register_analyzer("frames")
class FrameAnalyzer(Analyzer):
    Options = FrameOptions
    batch_size = 8

    def __init__(self, options: FrameOptions | None = None, *, policy: Any = None,
                 settings: dict[str, Any] | None = None, stages: Sequence[FrameStage] | None = None) -> None:
        """Builds every registered frame stage with its options from `settings` ("frames.ocr": ...);
        `stages` replaces them entirely (tests, benchmarks)."""
        super().__init__(options, policy=policy, settings=settings)
        if stages is None:
            self.stages, self._skipped = self._build_stages()
        else:
            self.stages, self._skipped = list(stages), []

    def _build_stages(self) -> tuple[list[FrameStage], list[AnalyzerStatus]]:
        """The stages that can run here, and a skipped status (with the reason) for each that cannot."""
        stages: list[FrameStage] = []
        skipped: list[AnalyzerStatus] = []
        for name, cls in stage_classes().items():
            try:
                stages.append(cls(self.settings.get(f"frames.{name}"), policy=self.policy))
            except StageUnavailable as error:
                skipped.append(AnalyzerStatus(name=f"frames.{name}", state="skipped", reason=str(error)))
            except (LiveInspectError, ImportError, OSError) as error:
                skipped.append(AnalyzerStatus(name=f"frames.{name}", state="skipped",
                                              reason=f"{type(error).__name__}: {error}"))
        return stages, skipped

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

    def component_statuses(self, stream: StreamState | None = None) -> list[AnalyzerStatus]:
        """One status per stage: ran (with model version and, for a stream, its seconds in that
        stream's scan) or skipped (with the reason)."""
        seconds = stream.seconds if isinstance(stream, FrameStreamState) else {}
        ran = [AnalyzerStatus(name=f"frames.{stage.name}", state="ran", model=stage.name,
                              model_version=stage.version, seconds=round(seconds.get(stage.name, 0.0), 3))
               for stage in self.stages]
        return ran + list(self._skipped)

    def stage(self, name: str) -> FrameStage | None:
        return next((stage for stage in self.stages if stage.name == name), None)

    # -- the analyzer protocol -------------------------------------------------------

    def open_stream(self, stream_id: str) -> FrameStreamState:
        return FrameStreamState(stream_id, parts={stage.name: stage.open_stream() for stage in self.stages},
                                seconds={stage.name: 0.0 for stage in self.stages})

    def preprocess(self, segment: Segment, stream: FrameStreamState) -> list[FrameItem]:
        items: list[FrameItem] = []
        duplicates = NearDuplicateFilter(max_distance=self.options.max_hash_distance)
        for frame in segment.frames:
            stream.frames_seen += 1
            if not isinstance(frame.image, np.ndarray) or frame.image.ndim != 3 \
                    or frame.image.dtype != np.uint8:
                raise LiveInspectError(f"frame {frame.index}: expected an RGB uint8 image, got "
                                       f"{getattr(frame.image, 'shape', type(frame.image).__name__)}")
            if self.options.skip_duplicates:
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
        stream.frames_inspected += len(items)
        return items

    def preprocess_image(self, still: StillImage, stream: StreamState) -> list[FrameItem]:
        return [FrameItem(image=still.image, modality=still.modality, name=still.name)]

    def forward(self, batch: Sequence[FrameItem]) -> list[FrameOutput]:
        """Every stage over the whole batch; output i holds each stage's result for item i."""
        images = [item.image for item in batch]
        # Stages that read a frame against its stream's earlier frames (OCR) are told whose frame each
        # is; a still (the cover) belongs to no stream.
        streams = [item.stream_id if item.segment is not None else None for item in batch]
        per_stage, shares = [], []
        for stage in self.stages:
            started = time.perf_counter()
            per_stage.append(stage.run(images, streams=streams) if getattr(stage, "per_stream", False)
                             else stage.run(images))
            shares.append((time.perf_counter() - started) / len(batch))
        return [FrameOutput([results[i] for results in per_stage], shares) for i in range(len(batch))]

    def finish(self, stream: FrameStreamState) -> AnalyzerOutput:
        details: dict[str, Any] = {}
        if stream.frames_seen:
            details["frames"] = {"sampled": stream.frames_seen, "inspected": stream.frames_inspected}
        for stage in self.stages:
            details.update(stage.finish(stream.parts[stage.name]))
            if getattr(stage, "per_stream", False):
                stage.forget(stream.stream_id)
        return AnalyzerOutput(details={key: value for key, value in details.items() if value})

    def postprocess(self, item: FrameItem, output: FrameOutput, stream: FrameStreamState) -> AnalyzerOutput:
        results = {stage.name: result for stage, result in zip(self.stages, output.results, strict=True)}
        for stage, share in zip(self.stages, output.seconds, strict=True):
            stream.seconds[stage.name] += share
        if "ocr" in results and results.get("qr"):
            # OCR reads a QR code's modules as junk glyphs; the code itself is reported by the QR stage.
            code_boxes = [code.box for code in results["qr"]]
            results["ocr"] = [line for line in results["ocr"]
                              if not any(_centre_inside(line.box, box) for box in code_boxes)]
        combined = AnalyzerOutput()
        for stage in self.stages:
            combined.extend(stage.report(item, results[stage.name], stream.parts[stage.name]))
        if item.segment is not None:
            combined.texts = stream.texts.add(item, combined.texts)
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


_IMAGE_CALLS = itertools.count()


def inspect_images(analyzer: FrameAnalyzer, images: Sequence[np.ndarray], *,
                   modality: Modality = Modality.frame, fps: float = 1.0) -> AnalyzerOutput:
    """Run the analyzer over bare images as one stream and segment (frame i at i / fps seconds), no
    batcher; findings come graded by the analyzer's policy."""
    from liveinspect.media.segment import Frame

    frames = [Frame(index=i, t=i / fps, image=image) for i, image in enumerate(images)]
    # A stream of its own per call: what OCR remembers of earlier frames never crosses calls.
    name = f"images-{next(_IMAGE_CALLS)}"
    stream = analyzer.open_stream(name)
    if modality is Modality.cover:
        items = [item for image in images
                 for item in analyzer.preprocess_image(StillImage(image=image), stream)]
    else:
        items = analyzer.preprocess(Segment(index=0, t0=0.0, t1=len(images) / fps, frames=frames,
                                            stream_id=name), stream)
    output = AnalyzerOutput()
    for start in range(0, len(items), analyzer.batch_size):
        batch = items[start:start + analyzer.batch_size]
        for item, result in zip(batch, analyzer.forward(batch), strict=True):
            output.extend(analyzer.postprocess(item, result, stream))
    output.extend(analyzer.finish(stream))
    output.findings = [analyzer.policy.grade(finding) for finding in output.findings]
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
