"""The avatar detector: CLIP image tower + probe (packaged), the linear head, the presenter verdict."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.media.segment import Frame, Segment
from liveinspect.models.avatar import EmbeddingHead, preprocess
from liveinspect.schema import FindingKind
from liveinspect.training.avatar import ImageFeatures, apply_condition, train_avatar_head


def test_preprocess_shape_and_normalisation():
    batch = preprocess([np.zeros((120, 300, 3), np.uint8), np.full((224, 224, 3), 255, np.uint8)])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    assert batch[0].max() < -1.4 and batch[1].min() > 1.9  # black / white after CLIP mean/std


def test_linear_head_learns_a_separable_task():
    rng = np.random.default_rng(0)
    n = 300
    label = np.array([0, 1] * (n // 2))
    direction = rng.normal(0, 1, 512)
    direction /= np.linalg.norm(direction)
    x = rng.normal(0, 1, (n, 512)) + np.outer(label * 2 - 1, direction) * 4
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    data = ImageFeatures(x=x, probe=np.zeros(n, np.float32), label=label, generator=["g"] * n,
                         condition=["clean"] * n, source=[""] * n)
    head = train_avatar_head(data)
    test_label = np.array([0, 1] * 100)
    test = rng.normal(0, 1, (200, 512)) + np.outer(test_label * 2 - 1, direction) * 4
    test = (test / np.linalg.norm(test, axis=1, keepdims=True)).astype(np.float32)
    assert float(np.mean((head.probability(test) >= 0.5) == test_label)) > 0.9


def test_image_conditions_keep_shape():
    image = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
    for condition in ("clean", "jpeg_q50", "h264"):
        assert apply_condition(image, condition).shape == image.shape


@pytest.mark.slow
def test_packaged_tower_and_probe_and_presenter_verdict():
    from liveinspect.models.avatar import ClipImageTower, load_packaged_probe
    from liveinspect.pipelines import avatar

    tower = ClipImageTower()
    rng = np.random.default_rng(0)
    photo = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    flat = np.zeros((240, 320, 3), np.uint8)
    flat[:, :, 2] = 200
    embeddings = tower.embed([photo, photo, flat])
    assert embeddings.shape == (3, 512) and np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-4)
    assert float(embeddings[0] @ embeddings[1]) > 0.999 and float(embeddings[0] @ embeddings[2]) < 0.95
    probe = load_packaged_probe()
    assert probe.probability(embeddings).shape == (3,)

    # A head that calls everything synthetic, so the verdict and the frame sampling are what is tested.
    always = EmbeddingHead(weights=np.zeros(512, np.float32), bias=4.0)
    analyzer = avatar.AvatarAnalyzer(avatar.AvatarOptions(head="none", interval_s=2.0))
    assert analyzer.unavailable_reason() is None
    analyzer.head = always
    stream = analyzer.open_stream("0")
    frames = [Frame(index=i, t=10.0 + i, image=photo) for i in range(7)]  # 1 fps for 7 s
    items = analyzer.preprocess(Segment(index=0, t0=10.0, t1=17.0, frames=frames), stream)
    assert [item.t for item in items] == [10.0, 12.0, 14.0, 16.0]
    for item, output in zip(items, analyzer.forward(items), strict=True):
        analyzer.postprocess(item, output, stream)
    out = analyzer.finish(stream)
    [finding] = out.findings
    assert finding.kind is FindingKind.synthetic_avatar
    assert (finding.t_start, finding.t_end) == (10.0, 16.0)
    assert finding.score > 0.95 and finding.evidence.frame_index in (0, 2, 4, 6)
    assert out.details["frames_scored"] == 4 and out.details["picture_consistency"] > 0.99
