"""The service on the core's public API, without a server: settings, admission, timeouts, batching.

Small analyzers written here stand in for the models, so these run in seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput
from liveinspect.pipelines.frame_stages import FaceOptions, OcrOptions
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.pipelines.speech import SpeechOptions
from liveinspect.pipelines.text import TextAnalyzer, TextOptions
from liveinspect.policy import load_policy
from liveinspect.schema import Evidence, Finding, FindingKind, Modality, TextItem
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.inference import (
    InspectionFailed,
    ModelTimeout,
    NotServed,
    Overloaded,
    SharedInference,
)
from liveinspect.serving.metrics import ServiceMetrics
from liveinspect.serving.settings import parse_settings_json, resolve_settings

# -- settings ---------------------------------------------------------------------------------


def test_json_settings_become_option_objects_over_the_flags():
    base = {"frames.ocr": OcrOptions(enabled=False)}
    settings = resolve_settings(
        {"frames.ocr": {"threads": 2}, "speech": {"language": "zh"}, "text": {"lexicon_only": True}}, base
    )
    assert settings["frames.ocr"] == OcrOptions(enabled=False, threads=2)  # the flag's field kept
    assert settings["speech"] == SpeechOptions(language="zh")
    assert settings["text"] == TextOptions(lexicon_only=True)
    assert resolve_settings({"frames.faces": FaceOptions(enabled=False)}) == {
        "frames.faces": FaceOptions(enabled=False)
    }
    config = ServiceConfig(data_dir="/tmp/unused", settings={"frames.faces": {"enabled": False}})
    assert config.settings == {"frames.faces": FaceOptions(enabled=False)}


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"frame": {"enabled": False}}, ["unknown component 'frame'", "frames.ocr"]),
        ({"frames": {"ocr": False}}, ["'frames' has no option 'ocr'", '{"frames.ocr": {"enabled": false}}']),
        ({"frames.ocr": {"enabled": "no"}}, ["'frames.ocr'", "enabled", "valid boolean"]),
        ({"speech": {"max_batch": 2.5}}, ["max_batch", "valid integer"]),
        ({"speech": True}, ["'speech' takes an object of its options", "language"]),
    ],
)
def test_unknown_components_fields_and_wrong_types_are_refused(given, words):
    with pytest.raises(LiveInspectError) as error:
        resolve_settings(given)
    for word in words:
        assert word in str(error.value)


def test_settings_json_is_checked():
    with pytest.raises(LiveInspectError, match="not valid JSON"):
        parse_settings_json("{frames")
    with pytest.raises(LiveInspectError, match="JSON object of components"):
        parse_settings_json('["frames.ocr"]')


def test_serve_flags_and_settings_make_the_config(tmp_path):
    import argparse

    from liveinspect.cli.serve import build_config, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "serve",
            "--data",
            str(tmp_path),
            "--lexicon-only",
            "--no-ocr",
            "--max-batch",
            "1",
            "--settings",
            '{"frames.ocr": {"threads": 1}, "frames.faces": {"enabled": false}}',
        ]
    )
    config = build_config(args)
    assert config.settings["text"].lexicon_only
    assert config.settings["frames.ocr"] == OcrOptions(enabled=False, threads=1)
    assert config.settings["frames.faces"] == FaceOptions(enabled=False)
    assert config.max_batch_size == 1 and config.requested_weights == {}
    bad = parser.parse_args(["serve", "--data", str(tmp_path), "--settings", '{"frames": {"faces": false}}'])
    with pytest.raises(LiveInspectError, match="frames.faces"):
        build_config(bad)


# -- shared inference on a small inspector ------------------------------------------------------


class Stills(Analyzer):
    """Stands in for the frame analyzer: one item per still, a finding when the image is bright;
    waits on `gate` (when set) inside the model call, fails on images of value 13."""

    name = "frames"
    batch_size = 8

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate: threading.Event | None = None

    def preprocess(self, segment, stream):
        return []

    def preprocess_image(self, still, stream):
        return [(still.image, still.modality)]

    def forward(self, batch):
        if self.gate is not None:
            self.gate.wait(10)
        if any(int(image.flat[0]) == 13 for image, _ in batch):
            raise ValueError("unreadable picture (simulated)")
        return [float(image.mean()) for image, _ in batch]

    def postprocess(self, item, output, stream):
        _, modality = item
        texts = [TextItem(modality=Modality.onscreen_text, text="全网第一")] if output > 200 else []
        findings = (
            []
            if output <= 200
            else [
                Finding(
                    kind=FindingKind.qr_code,
                    modality=modality,
                    score=0.9,
                    model="stills",
                    model_version="0",
                    evidence=Evidence(payload="https://u.wechat.com/EXAMPLE"),
                )
            ]
        )
        return AnalyzerOutput(findings=findings, texts=texts)


@pytest.fixture
def shared(tmp_path):
    def make(**limits) -> tuple[SharedInference, Stills, ServiceMetrics]:
        policy = load_policy()
        metrics = ServiceMetrics()
        analyzer = Stills(policy=policy)
        inspector = Inspector(
            [analyzer],
            text_analyzer=TextAnalyzer(policy=policy),
            policy=policy,
            options=ScanOptions(progress=False),
            on_batch=metrics.observe_batch,
        )
        config = ServiceConfig(data_dir=tmp_path, **limits)
        made.append((SharedInference(inspector, config, metrics), inspector))
        return made[-1][0], analyzer, metrics

    made: list = []
    yield make
    for inference, inspector in made:
        inference.close()
        inspector.close()


def picture(value: int) -> np.ndarray:
    return np.full((32, 32, 3), value, np.uint8)


def samples(metrics: ServiceMetrics, name: str, model: str) -> float:
    return metrics.registry.get_sample_value(name, {"model": model}) or 0.0


def test_an_image_is_a_scan_of_its_own_graded_with_its_texts_checked(shared):
    inference, _, metrics = shared()
    bright = inference.inspect_image(picture(250), Modality.cover)
    kinds = {(f.kind.value, f.modality.value) for f in bright.findings}
    assert ("qr_code", "cover") in kinds and ("absolute_term", "onscreen_text") in kinds
    assert all(f.severity is not None and f.articles for f in bright.findings)  # graded by the policy
    assert bright.action.value != "none" and [t.text for t in bright.texts] == ["全网第一"]
    dark = inference.inspect_image(picture(10))
    assert dark.findings == [] and dark.action.value == "none"
    assert samples(metrics, "liveinspect_batch_size_count", "frames") == 2  # through on_batch
    assert samples(metrics, "liveinspect_item_latency_seconds_count", "frames") == 2
    with pytest.raises(InspectionFailed, match="unreadable picture"):
        inference.inspect_image(picture(13))
    with pytest.raises(NotServed, match="without the speech analyzer"):
        inference.inspect_audio(np.zeros(16000, np.float32))


def test_concurrent_images_share_a_batch_and_the_queue_is_bounded(shared):
    inference, analyzer, metrics = shared(max_pending_items=4)
    analyzer.gate = threading.Event()
    answers: list[Any] = []

    def one() -> None:
        try:
            answers.append(inference.inspect_image(picture(250)))
        except Overloaded as error:
            answers.append(error)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while inference.queue_depth()["sync_pending"] < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inference.queue_depth()["sync_pending"] == 4
    with pytest.raises(Overloaded) as refused:  # a fifth waits for nobody: 429
        inference.inspect_image(picture(250))
    assert refused.value.retry_after >= 1
    analyzer.gate.set()
    for thread in threads:
        thread.join(20)
    assert len(answers) == 4 and all(a.findings for a in answers)
    assert inference.queue_depth() == {"frames": 0, "text": 0, "sync_pending": 0}
    # The first item may run alone while the others queue behind it; the rest share batches.
    assert samples(metrics, "liveinspect_batch_size_count", "frames") <= 3


def test_a_request_past_its_timeout_is_answered_and_its_work_still_counts_until_done(shared):
    inference, analyzer, _ = shared(sync_timeout_s=0.3, max_pending_items=1)
    analyzer.gate = threading.Event()
    with pytest.raises(ModelTimeout, match="did not answer within"):
        inference.inspect_image(picture(250))
    # The model is still busy with it: nothing more is admitted until it ends.
    with pytest.raises(Overloaded):
        inference.inspect_image(picture(250))
    analyzer.gate.set()
    deadline = time.monotonic() + 10
    while inference.queue_depth()["sync_pending"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inference.queue_depth()["sync_pending"] == 0
    assert inference.inspect_image(picture(250)).findings


def test_concurrent_text_requests_share_classifier_calls_and_keep_per_item_results(shared):
    inference, _, metrics = shared()
    items = [
        TextItem(modality=Modality.title, text="全网第一 加微信 abc123"),
        TextItem(modality=Modality.title, text="今天上新"),
        TextItem(modality=Modality.speech, text="全网第一 加微信 abc123", t_start=5.0, t_end=7.0),
        TextItem(modality=Modality.title, text="销量第一"),
    ]
    alone = [inference.inspector.check_texts([item]) for item in items]
    before = samples(metrics, "liveinspect_batch_size_count", "text")
    barrier = threading.Barrier(8)
    results: dict[int, list] = {}

    def request(n: int) -> None:
        barrier.wait(10)
        results[n] = inference.check_texts(items)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 8
    for answer in results.values():
        assert [r.findings for r in answer] == alone
        assert answer[1].findings == [] and answer[1].action.value == "none"
        assert answer[2].findings[0].t_start == 5.0 and answer[0].action.value != "none"
    assert samples(metrics, "liveinspect_batch_size_count", "text") - before < 8  # requests shared calls


def test_named_weights_that_do_not_load_stop_the_start(tmp_path):
    from liveinspect.serving.service import Service

    config = ServiceConfig(
        data_dir=tmp_path,
        analyzers=("speech",),
        settings={"speech": {"weights": str(tmp_path / "nope.pt")}, "text": {"lexicon_only": True}},
        requested_weights={"speech": f"--whisper {tmp_path / 'nope.pt'}"},
    )
    service = Service(config)
    try:
        with pytest.raises(LiveInspectError, match=r"speech \(--whisper .*nope.pt\): no Whisper weights"):
            service.start()
        assert not service.ready
    finally:
        service.stop()
