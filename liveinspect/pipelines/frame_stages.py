"""The detectors the frame analyzer runs, one small class per model backend.

Each stage takes a batch of RGB images and returns one raw result per image
(`run`), and turns one result into findings and texts (`report`). A stage is
registered with `@register_stage("name")`, declares its options as a frozen
dataclass (`Options`) and is built as `cls(options, policy=policy)`; one that
cannot run here (no weights, plugin off) raises `StageUnavailable` with the
reason, so the report lists it as skipped. What a stage keeps per stream
(presenter presence) lives in the state its `open_stream` returns.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import AnalyzerOutput
from liveinspect.pipelines.options import option
from liveinspect.pipelines.registry import register_stage
from liveinspect.policy.policy import QR_CATEGORY_PREFIX, QR_UNMATCHED
from liveinspect.schema import Box, Evidence, Finding, FindingKind, Modality, TextItem


class StageUnavailable(LiveInspectError):
    """A stage that cannot run here; the message is the reason the report gives."""


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


def frame_finding(stage: "FrameStage", item: FrameItem, kind: FindingKind, score: float, *,
                  box: Sequence[float] | None = None, message: str, **evidence: Any) -> Finding:
    """What every frame finding shares: where, when, which model (the policy grades it later)."""
    return Finding(
        kind=kind,
        modality=Modality.cover if item.modality is Modality.cover else Modality.frame,
        t_start=item.t_start, t_end=item.t_end,
        evidence=Evidence(frame_index=item.frame_index, box=to_box(box) if box else None, **evidence),
        score=float(min(max(score, 0.0), 1.0)), model=f"frames.{stage.name}",
        model_version=stage.version, message=message)


class FrameStage(ABC):
    name: ClassVar[str]
    Options: ClassVar[type]
    version: str = "0"

    def __init__(self, options: Any = None, *, policy: Any) -> None:
        self.options = options if options is not None else self.Options()
        self.policy = policy
        if not getattr(self.options, "enabled", True):
            raise StageUnavailable("disabled")

    @abstractmethod
    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        """One raw result per image."""

    @abstractmethod
    def report(self, item: FrameItem, result: Any, state: Any) -> AnalyzerOutput:
        """Findings and texts for one image's result; `state` is what `open_stream` returned."""

    def open_stream(self) -> Any:
        """What this stage keeps about one stream (None: nothing)."""
        return None

    def finish(self, state: Any) -> dict[str, Any]:
        """A summary of the stream for the report."""
        return {}


@dataclass(frozen=True)
class OcrOptions:
    enabled: bool = option(True, flag="--no-ocr", help="do not read on-screen text")
    threads: int | None = None  # rapidocr's intra-op threads; None: its default
    remember: bool = option(False, flag="--ocr-remember",
                            help="read a frame only where it changed from its stream's earlier frames "
                                 "(faster; a frame's lines then depend on the frames before it, so it "
                                 "is off where frames may reach the model out of order, as in a service)")


@register_stage("ocr")
class OcrStage(FrameStage):
    Options = OcrOptions

    def __init__(self, options: OcrOptions | None = None, *, policy: Any) -> None:
        super().__init__(options, policy=policy)
        from liveinspect.models.ocr import OcrEngine

        self.engine = OcrEngine(max_threads=self.options.threads, cache=self.options.remember)
        self.version = self.engine.version

    per_stream = True  # frames are read against their stream's earlier frames (models/ocr.py)

    def run(self, images: Sequence[np.ndarray], streams: Sequence[str | None] | None = None) -> list[Any]:
        return self.engine.read_batch(images, streams)

    def forget(self, stream: str) -> None:
        self.engine.forget(stream)

    def report(self, item: FrameItem, result: Any, state: Any) -> AnalyzerOutput:
        modality = Modality.cover if item.modality is Modality.cover else Modality.onscreen_text
        texts = [TextItem(modality=modality, text=line.text, t_start=item.t_start, t_end=item.t_end,
                          frame_index=item.frame_index, box=to_box(line.box), source="ocr")
                 for line in result]
        return AnalyzerOutput(texts=texts)


@dataclass(frozen=True)
class CodeOptions:
    enabled: bool = option(True, flag="--no-codes", help="do not decode QR codes and barcodes")


@register_stage("qr")
class CodeStage(FrameStage):
    """Decoded QR codes and barcodes; the policy's `qr_rules` say what each payload leads to."""

    Options = CodeOptions

    def __init__(self, options: CodeOptions | None = None, *, policy: Any) -> None:
        super().__init__(options, policy=policy)
        from liveinspect.models.qr import CodeReader

        self.reader = CodeReader()
        self.version = self.reader.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return [self.reader.read(image) for image in images]

    def report(self, item: FrameItem, result: Any, state: Any) -> AnalyzerOutput:
        findings = []
        for code in result:
            verdict = self.policy.qr_rules.classify(code.payload)
            if verdict.kind is FindingKind.offplatform_lure:
                message = f"{code.symbology} leads off the platform ({verdict.label}): {code.payload}"
            else:
                message = f"{code.symbology} shown ({verdict.label}): {code.payload}"
            rule = verdict.rule or QR_UNMATCHED
            findings.append(frame_finding(self, item, verdict.kind, verdict.score, box=code.box,
                                          message=message, payload=code.payload, matched_term=rule,
                                          category=QR_CATEGORY_PREFIX + rule))
        return AnalyzerOutput(findings=findings)


@dataclass(frozen=True)
class FaceOptions:
    enabled: bool = option(True, flag="--no-faces", help="do not detect faces (presenter presence)")
    weights_dir: str | None = None  # MTCNN weights or exported folder; default: facenet-pytorch's files
    backend: str = option("onnx", flag="--faces-backend",
                          help="onnx (ONNX Runtime, the default: the nets exported once and cached) or torch")
    precision: str = "fp32"  # of an exported folder's graphs: "int8" opens pnet.int8.onnx, ...
    # A presenter's face is large in the picture; a coarser pyramid on a smaller image
    # costs a fraction of the detector's defaults.
    min_face_size: int = 40
    max_side: int = 640


@register_stage("faces")
class FaceStage(FrameStage):
    """Presenter presence; faces are not findings by themselves."""

    Options = FaceOptions

    def __init__(self, options: "FaceOptions | None" = None, *, policy: Any) -> None:
        super().__init__(options, policy=policy)
        from liveinspect.backends.base import BackendOptions
        from liveinspect.models.faces import FaceDetector

        options = self.options
        self.detector = FaceDetector(options.weights_dir, min_face_size=options.min_face_size,
                                     max_side=options.max_side,
                                     backend=BackendOptions(kind=options.backend,
                                                            precision=options.precision))
        self.version = self.detector.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return self.detector.detect_batch(images)

    def open_stream(self) -> list[tuple[float | None, float | None, int]]:
        return []  # (t_start, t_end, number of faces) per inspected frame

    def report(self, item: FrameItem, result: Any, state: list) -> AnalyzerOutput:
        if item.modality is not Modality.cover:
            state.append((item.t_start, item.t_end, len(result)))
        return AnalyzerOutput()

    def finish(self, state: list) -> dict[str, Any]:
        return {"presenter": presence_summary(state)}


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


@dataclass(frozen=True)
class ClipOptions:
    """What to load; None means 'read the LIVEINSPECT_CLIP_* environment variable'."""

    model: str | None = option(None, flag="--clip-model", weights=True,
                               help="open_clip model, e.g. ViT-B-32 (or $LIVEINSPECT_CLIP_MODEL)")
    checkpoint: str | None = option(None, flag="--clip-checkpoint", weights=True,
                                    help="local open_clip weights for --clip-model")
    text_model_dir: str | None = option(None, flag="--clip-text-dir",
                                        help="local Hugging Face text tower for multilingual open_clip "
                                             "models")
    heads: tuple[str, ...] = option((), flag="--clip-head",
                                    help="trained linear head on CLIP embeddings (repeatable)")
    prompt_languages: tuple[str, ...] = ()  # default: both for HF text towers, else English


@register_stage("clip")
class SceneStage(FrameStage):
    """Zero-shot scene/product classes and trained linear heads on open_clip embeddings."""

    Options = ClipOptions

    def __init__(self, options: "ClipOptions | None" = None, *, policy: Any) -> None:
        super().__init__(options, policy=policy)
        from liveinspect.models.clip import ZeroShotClassifier

        clip, prompt_set, heads = _load_clip(self.options, policy)
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

    def report(self, item: FrameItem, result: Any, state: Any) -> AnalyzerOutput:
        zero_shot, head_probabilities = result
        findings = []
        best = int(np.argmax(zero_shot))
        label = self.classifier.labels[best]
        cls = self.prompts.by_id[label]
        background = max((zero_shot[i] for i in self._background), default=0.0)
        if cls.kind is not None and zero_shot[best] >= self.prompts.threshold \
                and zero_shot[best] - background >= self.prompts.margin:
            findings.append(frame_finding(self, item, cls.kind, float(zero_shot[best]),
                                 message=f"image looks like {label} (zero-shot CLIP)",
                                 matched_term=label, category=cls.category))
        for head, probabilities in zip(self.heads, head_probabilities, strict=True):
            index = int(np.argmax(probabilities))
            kind, _, category = head.labels[index].partition(":")
            if kind in FindingKind.__members__ and probabilities[index] >= self.prompts.threshold:
                findings.append(frame_finding(self, item, FindingKind(kind), float(probabilities[index]),
                                     message=f"linear head says {head.labels[index]}",
                                     matched_term=head.labels[index], category=category or None))
        return AnalyzerOutput(findings=findings)


@dataclass(frozen=True)
class ExposureOptions:
    model: str | None = option(None, flag="--exposure-model", weights=True,
                               help="nudenet ONNX detector file; off unless given (AGPL-3.0)")


@register_stage("exposure")
class ExposureStage(FrameStage):
    Options = ExposureOptions

    def __init__(self, options: ExposureOptions | None = None, *, policy: Any) -> None:
        super().__init__(options, policy=policy)
        from liveinspect.models.exposure import OFF_REASON, ExposureDetector, configured_model_path

        path = configured_model_path(self.options.model)
        if path is None:
            raise StageUnavailable(OFF_REASON)
        self.detector = ExposureDetector(path)
        self.version = self.detector.version

    def run(self, images: Sequence[np.ndarray]) -> list[Any]:
        return self.detector.detect_batch(images)

    def report(self, item: FrameItem, result: Any, state: Any) -> AnalyzerOutput:
        from liveinspect.models.exposure import UNSUITABLE

        return AnalyzerOutput(findings=[
            frame_finding(self, item, FindingKind.unsuitable_attire, part.score, box=part.box,
                 message=f"exposed body part: {part.label.lower()}", matched_term=part.label)
            for part in result if part.label in UNSUITABLE])


def _load_clip(options: ClipOptions, policy: Any) -> tuple[Any, Any, list[Any]]:
    """The CLIP model, its prompt set and its heads; a missing or unloadable model is 'no weights'."""
    from liveinspect.models.clip import ClipModel, LinearHead
    from liveinspect.models.clip.prompts import load_prompt_set

    model = options.model or os.environ.get("LIVEINSPECT_CLIP_MODEL") or None
    checkpoint = options.checkpoint or os.environ.get("LIVEINSPECT_CLIP_CHECKPOINT") or None
    text_dir = options.text_model_dir or os.environ.get("LIVEINSPECT_CLIP_TEXT_DIR") or None
    try:
        clip = ClipModel.load(model, checkpoint, text_model_dir=text_dir)
    except (LiveInspectError, ImportError, OSError) as error:
        raise StageUnavailable(f"no weights: {error}") from error
    # CLIP's own BPE tokenizer is English-only; HF text towers (xlm-roberta) read Chinese too.
    languages = tuple(options.prompt_languages) or (("en", "zh") if clip.hf_text_tower else ("en",))
    prompts = load_prompt_set(policy=policy, languages=languages)
    return clip, prompts, [LinearHead.load(p) for p in options.heads]
