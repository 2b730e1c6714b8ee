"""The detectors the frame analyzer runs, one small class per model backend.

Each stage takes a batch of RGB images and returns one raw result per image
(`run`), and turns one result into findings and texts (`report`). Stages that
cannot run here (no weights, plugin off) are not built; `build_stages` says
why, so the report can list them as skipped.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Callable, Sequence

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import AnalyzerOutput
from liveinspect.schema import (
    AnalyzerStatus,
    Box,
    Evidence,
    Finding,
    FindingKind,
    Modality,
    Severity,
    TextItem,
)


@dataclass
class FrameItem:
    """One image to inspect: a sampled frame (with its time span) or a still such as the cover.

    `t_end` is the time of the last near-duplicate frame this one stands for.
    """

    image: np.ndarray
    modality: Modality = Modality.frame
    frame_index: int | None = None
    t_start: float | None = None
    t_end: float | None = None
    stream_id: str = "0"
    name: str = ""
    segment: tuple[str, int] | None = None  # (stream id, segment index) for frames
    last_in_segment: bool = False


def to_box(box: Sequence[float]) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    return Box(x0=x0, y0=y0, x1=max(x1, x0), y1=max(y1, y0))


class FindingFactory:
    """Fills in what every frame finding shares: where, when, which model, which articles."""

    def __init__(self, policy: Any = None) -> None:
        self.policy = policy

    def __call__(self, stage: "FrameStage", item: FrameItem, kind: FindingKind, score: float, *,
                 box: Sequence[float] | None = None, message: str, severity: Severity | None = None,
                 **evidence: Any) -> Finding:
        category = evidence.get("category")
        articles = self.policy.articles_for(kind, category) if self.policy is not None else []
        extra = {"severity": severity} if severity is not None else {}
        return Finding(
            kind=kind,
            modality=Modality.cover if item.modality is Modality.cover else Modality.frame,
            t_start=item.t_start, t_end=item.t_end,
            evidence=Evidence(frame_index=item.frame_index, box=to_box(box) if box else None, **evidence),
            score=float(min(max(score, 0.0), 1.0)), model=f"frames.{stage.name}",
            model_version=stage.version, articles=articles, message=message, **extra)


class FrameStage(ABC):
    name: ClassVar[str]
    version: str = "0"

    @abstractmethod
    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        """One raw result per image."""

    @abstractmethod
    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        """Findings and texts for one image's result."""

    def finish(self, stream_id: str) -> dict[str, Any]:
        """A summary of the stream for the report (and drop what was kept for it)."""
        return {}


class OcrStage(FrameStage):
    name = "ocr"

    def __init__(self, max_threads: int | None = None) -> None:
        from liveinspect.models.ocr import OcrEngine

        self.engine = OcrEngine(max_threads=max_threads)
        self.version = self.engine.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return self.engine.read_batch(images)

    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        modality = Modality.cover if item.modality is Modality.cover else Modality.onscreen_text
        texts = [TextItem(modality=modality, text=line.text, t_start=item.t_start, t_end=item.t_end,
                          frame_index=item.frame_index, box=to_box(line.box), source="ocr")
                 for line in result]
        return AnalyzerOutput(texts=texts)


class CodeStage(FrameStage):
    name = "qr"

    def __init__(self, rules_path: str | Path | None = None) -> None:
        from liveinspect.models.qr import CodeReader, load_qr_rules

        self.reader = CodeReader()
        self.rules = load_qr_rules(rules_path)
        self.version = self.reader.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return [self.reader.read(image) for image in images]

    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        findings = []
        for code in result:
            verdict = self.rules.classify(code.payload)
            if verdict.kind is FindingKind.offplatform_lure:
                message = f"{code.symbology} leads off the platform ({verdict.label}): {code.payload}"
            else:
                message = f"{code.symbology} shown ({verdict.label}): {code.payload}"
            findings.append(make(self, item, verdict.kind, verdict.score, box=code.box,
                                 severity=verdict.severity, message=message, payload=code.payload,
                                 matched_term=verdict.rule or "unmatched"))
        return AnalyzerOutput(findings=findings)


class FaceStage(FrameStage):
    """Presenter presence and face crops; faces are not findings by themselves.

    Listeners (e.g. a synthetic-avatar detector) receive every item's faces.
    """

    name = "faces"

    def __init__(self, weights_dir: str | Path | None = None, *, min_face_size: int = 40,
                 max_side: int = 640) -> None:
        from liveinspect.models.faces import FaceDetector

        # A presenter's face is large in the picture; a coarser pyramid on a smaller image
        # costs a fraction of the detector's defaults.
        self.detector = FaceDetector(weights_dir, min_face_size=min_face_size, max_side=max_side)
        self.version = self.detector.version
        self.listeners: list[Callable[[FrameItem, list], None]] = []
        self.presence: dict[str, list[tuple[float | None, float | None, int]]] = {}

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return self.detector.detect_batch(images)

    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        if item.modality is not Modality.cover:
            self.presence.setdefault(item.stream_id, []).append((item.t_start, item.t_end, len(result)))
        for listener in self.listeners:
            listener(item, result)
        return AnalyzerOutput()

    def finish(self, stream_id: str) -> dict[str, Any]:
        return {"presenter": presence_summary(self.presence.pop(stream_id, []))}


def presence_summary(entries: Sequence[tuple[float | None, float | None, int]]) -> dict[str, Any]:
    """How much of the stream shows a face, and the longest stretch without one.

    A live room whose presenter is absent for long stretches may be a replay
    or an unattended loop rather than a live presentation; reviewers use this
    to decide where to look, so it is reported, not graded.
    """
    entries = sorted(e for e in entries if e[0] is not None)
    if not entries:
        return {"frames": 0}
    with_face = sum(1 for _, _, faces in entries if faces)
    longest, absent_since = 0.0, None
    for t_start, _, faces in entries:
        if faces:
            if absent_since is not None:
                longest = max(longest, t_start - absent_since)
            absent_since = None
        elif absent_since is None:
            absent_since = t_start
    last_end = max(t_end if t_end is not None else t_start for t_start, t_end, _ in entries)
    if absent_since is not None:
        longest = max(longest, last_end - absent_since)
    return {"frames": len(entries), "frames_with_face": with_face,
            "share_with_face": round(with_face / len(entries), 3),
            "max_faces": max(faces for _, _, faces in entries),
            "longest_absence_s": round(longest, 2)}


class SceneStage(FrameStage):
    """Zero-shot scene/product classes and trained linear heads on open_clip embeddings."""

    name = "clip"

    def __init__(self, clip: Any, prompt_set: Any, heads: Sequence[Any] = ()) -> None:
        from liveinspect.models.clip import ZeroShotClassifier

        self.clip = clip
        self.prompts = prompt_set
        self.classifier = ZeroShotClassifier(clip, prompt_set.as_mapping())
        self.heads = list(heads)
        self.version = clip.version
        self._background = [i for i, label in enumerate(self.classifier.labels)
                            if prompt_set.by_id[label].kind is None]

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        embeddings = self.clip.embed_images(images)
        zero_shot = self.classifier.probabilities(embeddings)
        heads = [head.probabilities(embeddings) for head in self.heads]
        return [(zero_shot[i], [h[i] for h in heads]) for i in range(len(images))]

    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        zero_shot, head_probabilities = result
        findings = []
        best = int(np.argmax(zero_shot))
        label = self.classifier.labels[best]
        cls = self.prompts.by_id[label]
        background = max((zero_shot[i] for i in self._background), default=0.0)
        if cls.kind is not None and zero_shot[best] >= self.prompts.threshold \
                and zero_shot[best] - background >= self.prompts.margin:
            findings.append(make(self, item, cls.kind, float(zero_shot[best]),
                                 message=f"image looks like {label} (zero-shot CLIP)",
                                 matched_term=label, category=cls.category))
        for head, probabilities in zip(self.heads, head_probabilities, strict=True):
            index = int(np.argmax(probabilities))
            kind, _, category = head.labels[index].partition(":")
            if kind in FindingKind.__members__ and probabilities[index] >= self.prompts.threshold:
                findings.append(make(self, item, FindingKind(kind), float(probabilities[index]),
                                     message=f"linear head says {head.labels[index]}",
                                     matched_term=head.labels[index], category=category or None))
        return AnalyzerOutput(findings=findings)


class ExposureStage(FrameStage):
    name = "exposure"

    def __init__(self, model_path: Path) -> None:
        from liveinspect.models.exposure import ExposureDetector

        self.detector = ExposureDetector(model_path)
        self.version = self.detector.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return self.detector.detect_batch(images)

    def report(self, item: FrameItem, result: Any, make: FindingFactory) -> AnalyzerOutput:
        from liveinspect.models.exposure import UNSUITABLE

        return AnalyzerOutput(findings=[
            make(self, item, FindingKind.unsuitable_attire, part.score, box=part.box,
                 message=f"exposed body part: {part.label.lower()}", matched_term=part.label)
            for part in result if part.label in UNSUITABLE])


@dataclass
class StageOptions:
    """What to build; None means 'read the LIVEINSPECT_* environment variable'."""

    ocr: bool = True
    codes: bool = True
    faces: bool = True
    qr_rules: str | Path | None = None
    face_weights: str | Path | None = None
    clip_model: str | None = None
    clip_checkpoint: str | Path | None = None
    clip_text_model_dir: str | Path | None = None
    clip_heads: Sequence[str | Path] = ()
    clip_prompt_languages: Sequence[str] = ()  # default: both for HF text towers, else English
    scene_prompts: str | Path | None = None
    exposure_model: str | Path | None = None
    ocr_threads: int | None = None


def _build_clip(options: StageOptions, policy: Any) -> SceneStage:
    from liveinspect.models.clip import ClipModel, LinearHead
    from liveinspect.models.clip.prompts import load_prompt_set

    model = options.clip_model or os.environ.get("LIVEINSPECT_CLIP_MODEL") or None
    checkpoint = options.clip_checkpoint or os.environ.get("LIVEINSPECT_CLIP_CHECKPOINT") or None
    text_dir = options.clip_text_model_dir or os.environ.get("LIVEINSPECT_CLIP_TEXT_DIR") or None
    clip = ClipModel.load(model, checkpoint, text_model_dir=text_dir)
    # CLIP's own BPE tokenizer is English-only; HF text towers (xlm-roberta) read Chinese too.
    languages = tuple(options.clip_prompt_languages) or (("en", "zh") if clip.hf_text_tower else ("en",))
    prompts = load_prompt_set(options.scene_prompts, policy=policy, languages=languages)
    return SceneStage(clip, prompts, [LinearHead.load(p) for p in options.clip_heads])


def build_stages(options: StageOptions, policy: Any = None
                 ) -> tuple[list[FrameStage], list[AnalyzerStatus]]:
    """The stages that can run here, and a skipped status (with the reason) for each that cannot."""
    from liveinspect.models.exposure import OFF_REASON, configured_model_path

    wanted: list[tuple[str, Callable[[], FrameStage | None], str]] = [
        ("ocr", lambda: OcrStage(options.ocr_threads) if options.ocr else None, "disabled"),
        ("qr", lambda: CodeStage(options.qr_rules) if options.codes else None, "disabled"),
        ("faces", lambda: FaceStage(options.face_weights) if options.faces else None, "disabled"),
        ("clip", lambda: _build_clip(options, policy), "no weights"),
        ("exposure", lambda: (ExposureStage(path) if (path := configured_model_path(
            options.exposure_model)) else None), OFF_REASON),
    ]
    stages: list[FrameStage] = []
    statuses: list[AnalyzerStatus] = []
    for name, build, off_reason in wanted:
        try:
            stage = build()
        except (LiveInspectError, ImportError, OSError) as error:
            reason = f"no weights: {error}" if name == "clip" else f"{type(error).__name__}: {error}"
            statuses.append(AnalyzerStatus(name=f"frames.{name}", state="skipped", reason=reason))
            continue
        if stage is None:
            statuses.append(AnalyzerStatus(name=f"frames.{name}", state="skipped", reason=off_reason))
        else:
            stages.append(stage)
    return stages, statuses
