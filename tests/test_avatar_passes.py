"""The avatar analyzer embeds a face frame as its crop alone once the face track decides the verdict,
and the verdict is the one that embedding every frame whole as well gives."""

from __future__ import annotations

import numpy as np

from liveinspect.media.segment import Frame, Segment
from liveinspect.models.avatar import EmbeddingHead

from avatar_support import FakeTower
from test_avatar_faces import _analyzer, _frame


class CountingTower(FakeTower):
    def __init__(self) -> None:
        self.images = 0

    def embed(self, images):
        self.images += len(images)
        return super().embed(images)


def _scan_in_segments(analyzer, images, per_segment: int):
    """Frames 2 s apart, fed a few at a time as a stream's segments are."""
    stream = analyzer.open_stream("0")
    for first in range(0, len(images), per_segment):
        frames = [Frame(index=i, t=2.0 * i, image=images[i])
                  for i in range(first, min(first + per_segment, len(images)))]
        segment = Segment(index=first, t0=frames[0].t, t1=frames[-1].t + 2.0, frames=frames)
        items = analyzer.preprocess(segment, stream)
        for item, output in zip(items, analyzer.forward(items), strict=True):
            analyzer.postprocess(item, output, stream)
    return analyzer.finish(stream)


def test_after_the_track_decides_face_frames_need_one_pass_and_the_verdict_is_unchanged():
    weights = np.zeros(512, np.float32)
    weights[0] = 400.0
    crop_head = EmbeddingHead(weights=weights, bias=-190.0, input="face_crops")
    # faces throughout except frame 5 (the presenter turned away)
    images = [_frame(i != 5, 200 + 5 * i) for i in range(8)]

    lazy = _analyzer(crop_head)
    lazy.tower = CountingTower()
    out = _scan_in_segments(lazy, images, per_segment=2)
    # segments 1-2 (frames 0-3) embedded whole and cropped; from frame 4 on the crop alone, except
    # the face-less frame 5: 4 x 2 + 3 + 1 tower images instead of 8 + 7
    assert lazy.tower.images == 12
    assert out.details["frames_embedded_whole"] == 5 and out.details["basis"] == "face_crops"

    reference = _analyzer(crop_head)
    full = _scan_in_segments(reference, images, per_segment=8)  # one segment: every frame whole
    assert full.details["frames_embedded_whole"] == 8
    assert out.details["presenter_score"] == full.details["presenter_score"]
    assert [f.score for f in out.findings] == [f.score for f in full.findings]
    assert [f.evidence.frame_index for f in out.findings] == [f.evidence.frame_index for f in full.findings]
