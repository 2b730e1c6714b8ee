"""FrameAnalyzer: stages, near-duplicate skipping, evidence, covers, CLIP heads, and a scan of the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.media.segment import Frame, Segment
from liveinspect.models.exposure import OFF_REASON, configured_model_path, decode_yolo
from liveinspect.pipelines.base import StillImage
from liveinspect.pipelines.frames import FrameAnalyzer, FrameOptions, inspect_images, save_thumbnail
from liveinspect.pipelines.frame_stages import presence_summary
from liveinspect.pipelines.phash import NearDuplicateFilter, dhash, hamming, phash
from liveinspect.policy import load_policy
from liveinspect.schema import FindingKind, Modality
from test_ocr import render_banner
from test_qr import qr_image

WECHAT = "https://u.wechat.com/EBxYz12AbCd"
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo" / "demo.mp4"


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def frame_analyzer(policy, **stages: bool) -> FrameAnalyzer:
    """The frame analyzer with some stages switched off (`ocr=False`, `qr=False`, `faces=False`)."""
    from liveinspect.pipelines.frame_stages import CodeOptions, FaceOptions, OcrOptions

    options = {"ocr": OcrOptions(enabled=stages.get("ocr", True), threads=2),
               "qr": CodeOptions(enabled=stages.get("qr", True)),
               "faces": FaceOptions(enabled=stages.get("faces", True))}
    return FrameAnalyzer(policy=policy, settings={f"frames.{name}": o for name, o in options.items()})


@pytest.fixture(scope="module")
def analyzer(policy) -> FrameAnalyzer:
    return frame_analyzer(policy)


def banner_with_code(text: str, payload: str | None, seed: int) -> np.ndarray:
    image = render_banner([(text, (40, 400))], size=(960, 540)).copy()
    if payload:
        image[60:240, 700:880] = qr_image(payload)
    noise = np.random.default_rng(seed).integers(-3, 4, image.shape)  # encoder noise
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def segment(images: list[np.ndarray], start_index: int = 0) -> Segment:
    frames = [Frame(index=start_index + i, t=float(start_index + i), image=image)
              for i, image in enumerate(images)]
    return Segment(index=0, t0=float(start_index), t1=float(start_index + len(images)), frames=frames)


def preprocess(analyzer: FrameAnalyzer, segment: Segment) -> list:
    return analyzer.preprocess(segment, analyzer.open_stream("test"))


def run(analyzer: FrameAnalyzer, items: list):
    """Forward and postprocess `items` as one stream; findings graded as a scan grades them."""
    stream = analyzer.open_stream("test")
    outputs = analyzer.forward(items)
    findings, texts = [], []
    for item, output in zip(items, outputs, strict=True):
        result = analyzer.postprocess(item, output, stream)
        findings += [analyzer.policy.grade(f) for f in result.findings]
        texts += result.texts
    return findings, texts


def test_stages_and_what_is_skipped(analyzer):
    assert [stage.name for stage in analyzer.stages] == ["ocr", "qr", "faces"]
    statuses = {s.name: s for s in analyzer.component_statuses()}
    assert statuses["frames.ocr"].state == "ran" and statuses["frames.ocr"].model_version
    assert statuses["frames.clip"].state == "skipped"
    assert statuses["frames.clip"].reason.startswith("no weights")
    assert statuses["frames.exposure"].state == "skipped"
    assert "AGPL-3.0" in statuses["frames.exposure"].reason
    assert analyzer.unavailable_reason() is None
    assert analyzer.model_name == "frames[ocr, qr, faces]"


def test_static_banner_is_read_once_and_qr_lure_is_found(analyzer, policy):
    still = [banner_with_code("加我微信 私下给你优惠", WECHAT, seed) for seed in range(4)]
    changed = [banner_with_code("感谢观看 下次再见", None, seed) for seed in (10, 11)]
    items = preprocess(analyzer, segment(still + changed))
    assert [(item.frame_index, item.t_start, item.t_end) for item in items] == [(0, 0.0, 3.0), (4, 4.0, 5.0)]

    findings, texts = run(analyzer, items)
    first = [t for t in texts if t.frame_index == 0]
    assert [t.text.replace(" ", "") for t in first] == ["加我微信私下给你优惠"]
    assert first[0].modality is Modality.onscreen_text and first[0].source == "ocr"
    assert (first[0].t_start, first[0].t_end) == (0.0, 3.0)
    assert first[0].box is not None and first[0].box.y0 > 380
    assert [t.text.replace(" ", "") for t in texts if t.frame_index == 4] == ["感谢观看下次再见"]

    assert len(findings) == 1
    lure = findings[0]
    assert lure.kind is FindingKind.offplatform_lure and lure.evidence.payload == WECHAT
    assert lure.evidence.frame_index == 0 and (lure.t_start, lure.t_end) == (0.0, 3.0)
    box = lure.evidence.box
    assert 690 <= box.x0 <= 720 and 50 <= box.y0 <= 80 and 860 <= box.x1 <= 890
    assert lure.articles == policy.articles_for(FindingKind.offplatform_lure)
    assert lure.modality is Modality.frame and lure.model == "frames.qr"


def test_without_skipping_every_frame_is_inspected(policy):
    analyzer = FrameAnalyzer(FrameOptions(skip_duplicates=False), policy=policy, settings=frame_analyzer(
        policy, faces=False, ocr=False).settings)
    images = [banner_with_code("直播中", WECHAT, seed) for seed in range(3)]
    items = preprocess(analyzer, segment(images))
    assert len(items) == 3
    findings, _ = run(analyzer, items)
    assert [f.evidence.frame_index for f in findings] == [0, 1, 2]


def test_a_code_appearing_in_a_corner_is_not_skipped(policy):
    analyzer = frame_analyzer(policy, faces=False, ocr=False)
    plain = banner_with_code("欢迎来到直播间", None, 0)
    with_code = plain.copy()
    with_code[20:200, 760:940] = qr_image("https://qr.alipay.com/fkx1")
    # The whole-frame hashes barely move; the tile check still sees the change.
    assert hamming(dhash(plain), dhash(with_code)) <= 8 or hamming(phash(plain), phash(with_code)) <= 8
    items = preprocess(analyzer, segment([plain, with_code]))
    assert [item.frame_index for item in items] == [0, 1]
    findings, _ = run(analyzer, items)
    assert [f.evidence.payload for f in findings] == ["https://qr.alipay.com/fkx1"]


def test_scene_change_frames_are_always_inspected(policy):
    analyzer = frame_analyzer(policy, faces=False, ocr=False)
    image = banner_with_code("直播中", None, 0)
    frames = [Frame(0, 0.0, image), Frame(1, 1.0, image, scene_change=True), Frame(2, 2.0, image)]
    items = preprocess(analyzer, Segment(index=0, t0=0.0, t1=3.0, frames=frames))
    assert [(i.frame_index, i.t_end) for i in items] == [(0, 0.0), (1, 2.0)]


def test_cover_texts_and_codes(analyzer):
    cover = banner_with_code("国家级品质 三天见效", "https://item.taobao.com/item.htm?id=7", 3)
    items = analyzer.preprocess_image(StillImage(image=cover), analyzer.open_stream("test"))
    findings, texts = run(analyzer, items)
    assert [t.modality for t in texts] == [Modality.cover]
    assert texts[0].frame_index is None and texts[0].t_start is None
    assert "国家级品质" in texts[0].text
    assert [(f.kind, f.modality, f.evidence.matched_term) for f in findings] == [
        (FindingKind.offplatform_lure, Modality.cover, "external_shop")]


def test_faces_give_presenter_presence_per_stream(policy):
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        photo = np.asarray(Image.open(handle).convert("RGB"))
    analyzer = frame_analyzer(policy, ocr=False, qr=False)
    faces = [stage.name for stage in analyzer.stages].index("faces")
    frames = [Frame(index=i, t=float(i), image=image)
              for i, image in enumerate([photo, np.zeros_like(photo)])]
    stream, other = analyzer.open_stream("a"), analyzer.open_stream("b")
    items = analyzer.preprocess(Segment(index=0, t0=0.0, t1=2.0, frames=frames), stream)
    outputs = analyzer.forward(items)
    assert [len(output.results[faces]) for output in outputs] == [1, 0]  # the detector's boxes
    for item, output in zip(items, outputs, strict=True):
        result = analyzer.postprocess(item, output, stream)
        assert result.findings == [] and result.texts == []
    assert stream.parts["faces"] == [(0.0, 0.0, 1), (1.0, 1.0, 0)]
    summary = analyzer.finish(stream).details["presenter"]
    assert summary == {"frames": 2, "frames_with_face": 1, "share_with_face": 0.5, "max_faces": 1,
                       "longest_absence_s": 0.0}
    assert other.parts["faces"] == []  # another stream's presence is its own
    assert analyzer.finish(other).details.get("presenter") == {"frames": 0}


def test_presence_summary_measures_the_longest_stretch_without_a_face():
    entries = [(0.0, 1.0, 1), (2.0, 2.0, 0), (3.0, 7.0, 0), (8.0, 8.0, 2), (9.0, 12.0, 0)]
    summary = presence_summary(entries)
    assert summary["frames"] == 5 and summary["frames_with_face"] == 2 and summary["max_faces"] == 2
    assert summary["longest_absence_s"] == 6.0  # 2.0 until the face at 8.0; the tail is 9-12 = 3
    assert presence_summary([]) == {"frames": 0}
    assert presence_summary([(5.0, 20.0, 0)])["longest_absence_s"] == 15.0


def test_bad_frames_are_refused(analyzer):
    with pytest.raises(LiveInspectError, match="RGB uint8"):
        preprocess(analyzer, segment([np.zeros((10, 10), np.float32)]))


def test_near_duplicate_filter_compares_with_the_last_accepted_image():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    dup = NearDuplicateFilter()
    assert not dup.is_duplicate(base)
    assert dup.is_duplicate(np.clip(base.astype(int) + 2, 0, 255).astype(np.uint8))
    assert not dup.is_duplicate(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8))
    with pytest.raises(LiveInspectError):
        dhash(np.zeros(0))


def test_exposure_plugin_is_off_unless_enabled(monkeypatch, tmp_path):
    monkeypatch.delenv("LIVEINSPECT_EXPOSURE_MODEL", raising=False)
    assert configured_model_path() is None
    assert "AGPL-3.0" in OFF_REASON
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        configured_model_path(tmp_path / "320n.onnx")
    monkeypatch.setenv("LIVEINSPECT_EXPOSURE_MODEL", str(tmp_path / "absent.onnx"))
    with pytest.raises(WeightsNotFoundError):
        configured_model_path()


def test_yolo_decoding_maps_boxes_back_to_the_frame():
    output = np.zeros((4 + 18, 3), np.float32)
    output[:4, 0] = [160, 80, 40, 20]  # centre x, y, width, height in the 320 input
    output[4 + 3, 0] = 0.9  # FEMALE_BREAST_EXPOSED
    output[:4, 1] = [162, 81, 40, 20]  # an overlapping weaker box, removed by NMS
    output[4 + 3, 1] = 0.6
    output[4 + 12, 2] = 0.1  # below threshold
    parts = decode_yolo(output, scale=2.0, min_score=0.45, image_shape=(360, 640))
    assert [p.label for p in parts] == ["FEMALE_BREAST_EXPOSED"]
    assert parts[0].box == pytest.approx((280.0, 140.0, 360.0, 180.0))


def test_clip_stage_zero_shot_and_trained_head(policy, tmp_path):
    import open_clip
    from safetensors.torch import save_file

    from liveinspect.models.clip import ClipModel, register_model_config, train_linear_head
    from liveinspect.models.clip.prompts import load_prompt_set
    from liveinspect.pipelines.frame_stages import SceneStage
    from test_clip import TINY_CONFIG, _squares

    name = register_model_config("liveinspect-test-frames-tiny", TINY_CONFIG)
    save_file({k: v.contiguous() for k, v in open_clip.create_model(name).state_dict().items()},
              str(tmp_path / "tiny.safetensors"))
    clip = ClipModel.load(name, tmp_path / "tiny.safetensors")
    prompts = load_prompt_set(policy=policy, languages=("en",))
    assert "negative_list:firearms" in prompts.by_id and "presenter_studio" in prompts.by_id
    red, blue = _squares((230, 40, 40), 16, 20), _squares((40, 40, 230), 16, 21)
    head = train_linear_head(clip.embed_images(red + blue),
                             ["negative_list_product:firearms"] * 16 + ["background"] * 16)
    head.save(tmp_path / "head.safetensors")

    from liveinspect.pipelines.frame_stages import ClipOptions

    settings = {**frame_analyzer(policy, ocr=False, qr=False, faces=False).settings,
                "frames.clip": ClipOptions(model=name, checkpoint=str(tmp_path / "tiny.safetensors"),
                                           heads=(str(tmp_path / "head.safetensors"),))}
    analyzer = FrameAnalyzer(policy=policy, settings=settings)
    stage = analyzer.stage("clip")
    assert isinstance(stage, SceneStage) and stage.version == clip.version
    output = inspect_images(analyzer, _squares((230, 40, 40), 2, 30) + _squares((40, 40, 230), 2, 31))
    by_head = [f for f in output.findings if f.evidence.matched_term == "negative_list_product:firearms"]
    assert [f.evidence.frame_index for f in by_head] == [0, 1]
    assert by_head[0].kind is FindingKind.negative_list_product
    assert by_head[0].evidence.category == "firearms" and "Art-7" in by_head[0].articles
    # Zero-shot: a finding exactly when the top class is a risky one above threshold and margin.
    zero_shot = [f for f in output.findings if f.evidence.matched_term in prompts.by_id]
    for finding in zero_shot:
        assert prompts.by_id[finding.evidence.matched_term].kind is finding.kind
        assert finding.score >= prompts.threshold


def test_save_thumbnail_draws_boxes(tmp_path):
    image = np.zeros((200, 300, 3), np.uint8)
    path = save_thumbnail(image, [(10, 10, 100, 100)], tmp_path / "t.jpg", max_side=150)
    saved = np.asarray(Image.open(path))
    assert saved.shape == (100, 150, 3)
    edge = saved[3:8, 20:30].astype(int)
    assert edge[..., 0].max() > 100 and edge[..., 1].max() < 80  # a red edge
    assert saved[25, 25].max() < 60  # dark inside


@pytest.mark.slow
def test_demo_scan_reports_onscreen_text_and_the_qr_lure(policy):
    assert DEMO.is_file(), f"demo broadcast missing: {DEMO}"
    from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
    from liveinspect.pipelines.text import TextAnalyzer
    from liveinspect.schema import Broadcast

    analyzer = frame_analyzer(policy)
    with Inspector([analyzer], text_analyzer=TextAnalyzer(policy=policy), policy=policy,
                   options=ScanOptions(progress=False)) as inspector:
        result = inspector.scan(Broadcast(source=str(DEMO), cover=str(DEMO.with_name("cover.png"))))
    report = result.report
    onscreen = [t for t in report.texts if t.modality is Modality.onscreen_text]
    joined = "".join(t.text.replace(" ", "") for t in onscreen)
    for planted in ("全网最低价", "已售10万件", "加我微信", "电子烟新口味", "保湿面霜"):
        assert planted in joined, planted
    counts = next(s for s in report.analyzers if s.name == "frames").details["frames"]
    assert counts["inspected"] < counts["sampled"]  # the static set was not re-read
    lures = [f for f in report.findings if f.evidence.payload == "https://u.wechat.com/EXAMPLEdemo123"]
    assert lures and lures[0].kind is FindingKind.offplatform_lure and lures[0].evidence.box
    assert 27.0 <= lures[0].t_start <= 30.0 and lures[0].t_end >= 34.0
    assert lures[0].evidence.frame_index in result.evidence.frames  # its thumbnail is kept
    assert any(t.modality is Modality.cover and "国家级" in t.text for t in report.texts)


def test_text_runs_merge_lines_seen_on_consecutive_frames_of_a_segment():
    from liveinspect.pipelines.frame_stages import FrameItem
    from liveinspect.pipelines.frames import TextRuns
    from liveinspect.schema import TextItem

    def item(index: int, last: bool = False) -> FrameItem:
        return FrameItem(image=np.zeros((1, 1, 3), np.uint8), frame_index=index, t_start=float(index),
                         t_end=float(index) + 0.5, segment=("0", 0), last_in_segment=last)

    def line(text: str, index: int) -> TextItem:
        return TextItem(modality=Modality.onscreen_text, text=text, t_start=float(index),
                        t_end=float(index) + 0.5, frame_index=index, source="ocr")

    runs = TextRuns()
    assert runs.add(item(0), [line("保湿面霜", 0), line("字幕一", 0)]) == []
    assert runs.add(item(1), [line("保湿 面霜", 1), line("字幕二", 1)]) == []
    assert runs.add(item(2), [line("字幕二", 2)]) == []
    out = runs.add(item(3, last=True), [line("保湿面霜", 3)])
    spans = sorted((t.t_start, t.text, t.frame_index, t.t_end) for t in out)
    assert spans == [(0.0, "保湿面霜", 0, 1.5), (0.0, "字幕一", 0, 0.5), (1.0, "字幕二", 1, 2.5),
                     (3.0, "保湿面霜", 3, 3.5)]
