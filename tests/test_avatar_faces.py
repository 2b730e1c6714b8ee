"""The avatar detector's face path: aligned crops, the crop head, the face-crop / whole-frame verdict."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.errors import CheckpointError
from liveinspect.models.avatar import EmbeddingHead, load_avatar_head
from liveinspect.models.avatar.faces import CROP_SIZE, FaceCrop, aligned_crop, eye_roll_degrees
from liveinspect.pipelines import avatar
from liveinspect.schema import FindingKind
from liveinspect.training.avatar import (
    ImageFeatures,
    combined_probability,
    save_avatar_head,
    train_avatar_head,
)

from avatar_support import FakeTower


def _dots(image: np.ndarray) -> list[tuple[float, float]]:
    """Centroids (x, y) of the bright pixels in the left and right halves."""
    ys, xs = np.nonzero(image[..., 0] > 128)
    half = image.shape[1] / 2
    return [(float(xs[m].mean()), float(ys[m].mean())) for m in (xs < half, xs >= half)]


def test_aligned_crop_levels_the_eyes_and_keeps_the_margin():
    image = np.zeros((240, 240, 3), np.uint8)
    eyes = [(90.0, 100.0), (150.0, 124.0)]  # the right eye lower: a face turned clockwise on screen
    for x, y in eyes:
        image[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = 255
    box = (60.0, 60.0, 180.0, 180.0)
    assert eye_roll_degrees(eyes) == pytest.approx(21.8, abs=0.1)
    crop, roll = aligned_crop(image, box, eyes, margin=0.3)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    (lx, ly), (rx, ry) = _dots(crop)
    assert abs(ly - ry) < 3  # level after the turn (turned the wrong way they would be ~90 px apart)
    # The crop spans the box side x 1.6 around its centre: the eyes, 64.6 px apart, fill 40% of it.
    assert (rx - lx) / CROP_SIZE == pytest.approx(float(np.hypot(60, 24)) / (120 * 1.6), abs=0.03)
    unturned, _ = aligned_crop(image, box, [(90.0, 100.0), (150.0, 100.0)], margin=0.0)
    assert _dots(unturned)[0][0] < 0.3 * CROP_SIZE  # no margin: the left eye nearer the edge


def _features(n: int, rng: np.random.Generator, *, separable_in: str) -> ImageFeatures:
    """Rows whose label is a direction in the crop embeddings (or the frame embeddings) only."""
    label = np.array([0, 1] * (n // 2))
    direction = rng.normal(0, 1, 512)
    direction /= np.linalg.norm(direction)

    def unit(signal: bool) -> np.ndarray:
        x = rng.normal(0, 1, (n, 512)) + (np.outer(label * 2 - 1, direction) * 4 if signal else 0)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    face = rng.random(n) < 0.7
    return ImageFeatures(x=unit(separable_in == "frames"), probe=np.zeros(n, np.float32), label=label,
                         generator=["g"] * n, condition=["clean"] * n, source=[""] * n,
                         crop_x=unit(separable_in == "crops") * face[:, None], face=face)


def test_crop_head_learns_what_only_the_face_crops_show():
    rng = np.random.default_rng(1)
    data = _features(400, rng, separable_in="crops")
    crops = data.crops()
    assert crops.x.shape == (int(data.face.sum()), 512)
    crop_head = train_avatar_head(crops, epochs=200)
    frame_head = train_avatar_head(data, epochs=200)
    assert crop_head.logits(crops.x).shape == (len(crops.label),)
    right = (crop_head.probability(crops.x) >= 0.5) == crops.label
    assert right.mean() > 0.9
    combined = combined_probability(frame_head, crop_head, data)
    with_face, without = data.face, ~data.face
    # Where a face was found the crop head decides (and is right); elsewhere the frame head.
    assert ((combined[with_face] >= 0.5) == data.label[with_face]).mean() > 0.9
    assert np.array_equal(combined[without], frame_head.probability(data.x[without]))
    assert not np.array_equal(combined[with_face], frame_head.probability(data.x[with_face]))


def test_a_crop_head_is_refused_where_a_whole_frame_head_is_expected(tmp_path):
    head = EmbeddingHead(weights=np.ones(512, np.float32) * 0.01, bias=0.5)
    save_avatar_head(head, tmp_path / "crops", input="face_crops", data={}, metrics={}, notes="test")
    assert load_avatar_head(tmp_path / "crops", input="face_crops").input == "face_crops"
    with pytest.raises(CheckpointError, match="face crops"):
        load_avatar_head(tmp_path / "crops", input="whole_frames")
    with pytest.raises(ValueError):
        save_avatar_head(head, tmp_path / "bad", input="faces", data={}, metrics={}, notes="")
    # Named as the analyzer's crop head, a whole-frame head makes the analyzer unavailable, saying why.
    save_avatar_head(head, tmp_path / "frames", data={}, metrics={}, notes="test")
    analyzer = avatar.AvatarAnalyzer(avatar.AvatarOptions(face_head=str(tmp_path / "frames")))
    assert "whole frames" in (analyzer.unavailable_reason() or "")


class FakeCropper:
    """A 'face' wherever the top-left pixel is white; the crop is the frame's red channel."""

    def largest(self, images):
        return [FaceCrop(crop=np.repeat(image[..., :1], 3, axis=2), box=(10.0, 20.0, 50.0, 70.0), score=0.99,
                         roll_deg=0.0) if image[0, 0, 0] == 255 else None for image in images]


def _analyzer(face_head: EmbeddingHead | None) -> avatar.AvatarAnalyzer:
    analyzer = avatar.AvatarAnalyzer(avatar.AvatarOptions(head="none", face_head="none", faces=False))
    assert analyzer.unavailable_reason() is None and analyzer.cropper is None
    analyzer.tower, analyzer.cropper, analyzer.face_head = FakeTower(), FakeCropper(), face_head
    analyzer.head = EmbeddingHead(weights=np.zeros(512, np.float32), bias=-3.0)  # frames: "real"
    return analyzer


def _scan(analyzer: avatar.AvatarAnalyzer, images: list[np.ndarray]):
    from liveinspect.media.segment import Frame, Segment

    stream = analyzer.open_stream("0")
    frames = [Frame(index=i, t=2.0 * i, image=image) for i, image in enumerate(images)]
    items = analyzer.preprocess(Segment(index=0, t0=0.0, t1=2.0 * len(images), frames=frames), stream)
    outputs = analyzer.forward(items)
    for item, output in zip(items, outputs, strict=True):
        analyzer.postprocess(item, output, stream)
    return outputs, analyzer.finish(stream)


def _frame(face: bool, red: int) -> np.ndarray:
    image = np.full((48, 64, 3), 40, np.uint8)
    image[..., 0] = red
    image[0, 0, 0] = 255 if face else 0
    return image


def test_face_track_decides_with_the_strongest_crop_as_evidence():
    # The crop head reads the red channel of the crop: the redder the face, the more synthetic.
    weights = np.zeros(512, np.float32)
    weights[0] = 400.0  # component 0 of a grey crop's embedding: 0.465 at red 200 .. 0.498 at 250
    crop_head = EmbeddingHead(weights=weights, bias=-190.0, input="face_crops")
    analyzer = _analyzer(crop_head)
    images = [_frame(True, 200), _frame(False, 250), _frame(True, 250), _frame(True, 220), _frame(True, 230)]
    outputs, out = _scan(analyzer, images)
    assert [o.face_embedding is not None for o in outputs] == [True, False, True, True, True]
    assert all(o.face_embedding.shape == (512,) for o in outputs if o.face_embedding is not None)
    assert outputs[1].face_logit is None and outputs[0].face_logit is not None
    [finding] = out.findings
    assert finding.kind is FindingKind.synthetic_avatar and finding.evidence.decided_by == "face_crops"
    assert finding.evidence.frame_index == 2 and "at 4.0 s" in finding.message  # the reddest face
    assert (finding.evidence.box.x0, finding.evidence.box.y1) == (10.0, 70.0)
    assert finding.evidence.matched_term == "4 face crops of 5 frames"
    details = out.details
    assert details["basis"] == "face_crops" and details["whole_frame_score"] < 0.1
    assert details["frames_with_face"] == 4 and details["share_with_face"] == 0.8
    assert details["identity_pairs"] == 3 and 0.9 < details["identity_min"] <= details["identity_consistency"]


def test_without_faces_the_verdict_stays_on_whole_frames():
    crop_head = EmbeddingHead(weights=np.zeros(512, np.float32), bias=5.0, input="face_crops")
    analyzer = _analyzer(crop_head)
    analyzer.head = EmbeddingHead(weights=np.zeros(512, np.float32), bias=3.0)  # frames: "synthetic"
    # Two faces are too few for a track: the crop head (which calls everything synthetic) is not used.
    images = [_frame(True, 100), _frame(False, 100), _frame(True, 100), _frame(False, 100)]
    _, out = _scan(analyzer, images)
    [finding] = out.findings
    assert finding.evidence.decided_by == "whole_frames" and finding.evidence.box is None
    assert out.details["basis"] == "whole_frames" and out.details["face_crop_score"] > 0.99
    assert finding.score == pytest.approx(out.details["whole_frame_score"], abs=1e-4)
    assert finding.evidence.matched_term == "4 frames"

    # No face anywhere and a real-looking picture: no finding, an identity track with nothing in it.
    analyzer.head = EmbeddingHead(weights=np.zeros(512, np.float32), bias=-3.0)
    _, out = _scan(analyzer, [_frame(False, 90)] * 4)
    assert out.findings == [] and out.details["frames_with_face"] == 0
    assert out.details["identity_consistency"] is None and out.details["basis"] == "whole_frames"


def test_without_mtcnn_weights_the_analyzer_runs_on_whole_frames_and_says_why(tmp_path):
    analyzer = avatar.AvatarAnalyzer(avatar.AvatarOptions(head="none", face_weights=str(tmp_path)))
    assert analyzer.unavailable_reason() is None
    assert analyzer.cropper is None and analyzer.face_head is None
    assert "MTCNN" in analyzer.faces_unavailable and "whole frames only" in analyzer.faces_unavailable
    analyzer.tower = FakeTower()
    _, out = _scan(analyzer, [_frame(True, 100)] * 3)
    assert out.details["basis"] == "whole_frames" and out.details["frames_with_face"] == 0
    assert out.details["faces_unavailable"] == analyzer.faces_unavailable


@pytest.mark.slow
def test_mtcnn_cropper_finds_the_sample_face_and_nothing_in_noise():
    from pathlib import Path

    import matplotlib
    from PIL import Image

    from liveinspect.models.avatar.faces import FaceCropper

    photo = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
                       .convert("RGB"))
    noise = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    face, nothing = FaceCropper().largest([photo, noise])
    assert nothing is None and face is not None
    assert face.crop.shape == (CROP_SIZE, CROP_SIZE, 3) and abs(face.roll_deg) < 15
    x0, y0, x1, y1 = face.box
    assert 100 < x1 - x0 < 400 and 0 <= x0 < x1 <= photo.shape[1] and 0 <= y0 < y1 <= photo.shape[0]


@pytest.mark.slow
def test_the_demo_presenter_is_judged_on_face_crops_and_not_flagged():
    """truth.json lists only the voice as synthetic: the demo's presenter is a photograph of a person."""
    import json

    import liveinspect
    from liveinspect.broadcast_file import load_broadcast
    from liveinspect.cli import demo_dir

    truth = json.loads((demo_dir() / "truth.json").read_text(encoding="utf-8"))
    assert not any("avatar" in v.get("where", "") or v.get("kind") == "synthetic_avatar"
                   for v in truth["violations"])
    options = liveinspect.ScanOptions(progress=False, max_duration=20.0)
    with liveinspect.build_inspector(["avatar"], options=options) as inspector:
        report = inspector.scan(load_broadcast(demo_dir() / "broadcast.yaml")).report
    assert not [f for f in report.findings if f.kind is FindingKind.synthetic_avatar]
    [status] = [a for a in report.analyzers if a.name == "avatar"]
    details = status.details
    assert details["frames_scored"] >= 9 and details["basis"] == "face_crops"
    assert details["share_with_face"] > 0.9 and details["presenter_score"] < 0.5
    assert details["identity_consistency"] > 0.9  # one still portrait throughout
