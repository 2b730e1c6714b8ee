"""The orchestrator with small analyzers written here: partial decodes, failures, skips, batching
across streams, grading. The real analyzers are exercised by their own tests and by test_cli's demo."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from media_factory import make_image, make_video, truncate

from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.policy import load_policy
from liveinspect.schema import Broadcast, Evidence, Finding, FindingKind, Modality, Severity, TextItem


class CaptionReader(Analyzer):
    """Pretends every sampled frame shows the caption `text`: one on-screen TextItem per frame.

    Records which streams each batch mixed, to check that streams share batches.
    """

    name = "captions"

    def __init__(self, text: str = "加微信 abc123 私聊", batch_size: int = 64, delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s  # model time per batch
        self.batch_size = batch_size
        self.batches: list[set[str]] = []
        self._lock = threading.Lock()

    def preprocess(self, segment, stream):
        return [(segment.stream_id, frame.index, frame.t) for frame in segment.frames]

    def preprocess_image(self, still: StillImage, stream):
        return [("cover", None, None)]

    def forward(self, batch: Sequence[Any]) -> list[Any]:
        with self._lock:
            self.batches.append({stream for stream, _, _ in batch})
        time.sleep(self.delay_s)
        return [self.text] * len(batch)

    def postprocess(self, item, output, stream) -> AnalyzerOutput:
        stream, index, t = item
        if stream == "cover":
            return AnalyzerOutput(texts=[TextItem(modality=Modality.cover, text=output, source="cover")])
        return AnalyzerOutput(texts=[TextItem(modality=Modality.onscreen_text, text=output, t_start=t,
                                              t_end=t, frame_index=index, source="ocr")])


class Broken(CaptionReader):
    name = "broken"

    def forward(self, batch):
        raise RuntimeError("CUDA out of memory (simulated)")


class NoWeights(CaptionReader):
    name = "noweights"

    def unavailable_reason(self):
        return "no weights: give --model-path"


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def inspector(policy, *analyzers, **options) -> Inspector:
    options.setdefault("progress", False)
    return Inspector(list(analyzers), text_analyzer=TextAnalyzer(policy=policy), policy=policy,
                     options=ScanOptions(**options))


def test_partial_decode_keeps_findings_before_the_cut_and_says_where_it_stopped(tmp_path, policy):
    cut = truncate(make_video(tmp_path / "full.mkv", seconds=12, fps=10), 0.5, out=tmp_path / "cut.mkv")
    with inspector(policy, CaptionReader(), window_s=2.0) as inspect:
        report = inspect.scan(Broadcast(source=str(cut), title="全网第一的面霜")).report
    assert report.media.state == "partial"
    assert "truncated" in report.media.message
    assert 3.0 < report.media.stopped_at < 9.0
    assert report.media.segments >= 2
    kinds = {(f.kind, f.modality) for f in report.findings}
    assert (FindingKind.absolute_term, Modality.title) in kinds
    lures = [f for f in report.findings if f.modality is Modality.onscreen_text]
    assert lures and all(f.kind is FindingKind.offplatform_lure for f in lures)
    # one finding per caption run, not one per frame, and all before the cut
    assert max(f.t_end for f in lures) <= report.media.stopped_at + 1e-6
    assert sum(len(f.evidence.text.text) > 0 for f in lures) < report.media.frames


def test_corrupt_source_fails_the_media_but_keeps_the_title_findings(tmp_path, policy):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01not a video" * 500)
    with inspector(policy, CaptionReader()) as inspect:
        report = inspect.scan(Broadcast(source=str(junk), title="三天祛斑 保证有效")).report
    assert report.media.state == "failed" and report.media.message
    assert {f.kind for f in report.findings} >= {FindingKind.false_efficacy}
    assert report.verdict.severity.rank >= Severity.medium.rank


def test_a_failing_analyzer_is_marked_failed_and_the_others_carry_on(tmp_path, policy):
    video = make_video(tmp_path / "v.mp4", seconds=3, fps=5)
    with inspector(policy, Broken(), CaptionReader(), NoWeights()) as inspect:
        report = inspect.scan(Broadcast(source=str(video))).report
    status = {s.name: s for s in report.analyzers}
    assert status["broken"].state == "failed" and "out of memory" in status["broken"].reason
    assert status["noweights"].state == "skipped" and "no weights" in status["noweights"].reason
    assert status["captions"].state == "ran" and status["captions"].items > 0
    assert report.media.state == "complete"
    assert any(f.modality is Modality.onscreen_text for f in report.findings)


def test_cover_problems_belong_to_the_scan_that_had_them(tmp_path, policy):
    good = make_image(tmp_path / "cover.png", size=(64, 48))
    video = str(make_video(tmp_path / "v.mp4", seconds=1, fps=2))
    with inspector(policy, CaptionReader()) as inspect:
        missing = inspect.scan(Broadcast(source=video, cover=str(tmp_path / "nope.png"))).report
        fine = inspect.scan(Broadcast(source=video, cover=str(good))).report
    assert [s.state for s in missing.analyzers if s.name == "cover"] == ["failed"]
    assert not [s for s in fine.analyzers if s.name == "cover"]
    cover_findings = [f for f in fine.findings if f.modality is Modality.cover]
    assert cover_findings and cover_findings[0].kind is FindingKind.offplatform_lure


def test_concurrent_streams_share_batches(tmp_path, policy):
    videos = [make_video(tmp_path / f"s{i}.mkv", seconds=6, fps=5) for i in range(2)]
    reader = CaptionReader(batch_size=256, delay_s=0.05)
    with inspector(policy, reader, window_s=2.0, fps=5.0, max_wait_s=0.3) as inspect:
        results = inspect.scan_many([Broadcast(source=str(v)) for v in videos], max_streams=2)
    assert [r.report.media.state for r in results] == ["complete", "complete"]
    assert any(len(streams) == 2 for streams in reader.batches), reader.batches
    # Each scan is charged its items' share of the shared batches, not the time it waited.
    charged = [next(s for s in r.report.analyzers if s.name == "captions").seconds for r in results]
    assert all(seconds > 0 for seconds in charged), charged
    assert sum(charged) == pytest.approx(0.05 * len(reader.batches), rel=0.5)


def test_grading_uses_the_negative_list_category(policy):
    with inspector(policy) as inspect:
        gun, cig = inspect.grade([
            Finding(kind=FindingKind.negative_list_product, modality=Modality.speech, score=0.95,
                    model="m", model_version="1", evidence=Evidence(category=category))
            for category in ("firearms", "ecig_tobacco")])
    assert gun.severity is Severity.critical and cig.severity is Severity.high
    assert gun.action.rank > cig.action.rank
    assert "Art-7" in gun.articles


def test_analyzers_get_the_scans_policy_not_the_shipped_default(tmp_path):
    from liveinspect.pipelines.registry import build_analyzers
    from liveinspect.policy import default_policy_path

    own = tmp_path / "claims.yaml"
    own.write_text(default_policy_path("claims").read_text(encoding="utf-8"), encoding="utf-8")
    custom = load_policy(claims=own)
    assert custom is not load_policy()
    from liveinspect.pipelines.frame_stages import FaceOptions

    [frames], skipped = build_analyzers(["frames"], {"frames.faces": FaceOptions(enabled=False)}, custom)
    assert skipped == [] and frames.policy is custom
