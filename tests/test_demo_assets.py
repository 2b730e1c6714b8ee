"""The committed demo broadcast decodes, and its ground truth agrees with what is really in it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from liveinspect.schema import Broadcast, FindingKind, Modality

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
UNTIMED = {"title", "profile", "cover"}
MAX_TOTAL_BYTES = 5 * 1024 * 1024


@dataclass
class Decoded:
    duration: float
    video_codec: str
    audio_codec: str
    fps: float
    n_frames: int
    frames_1hz: list[tuple[float, np.ndarray]]  # (time, RGB frame), one per second
    audio: np.ndarray  # mono float32
    sample_rate: int


@pytest.fixture(scope="module")
def decoded() -> Decoded:
    with av.open(str(DEMO / "demo.mp4")) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video, audio = container.streams.video[0], container.streams.audio[0]
        duration = float(container.duration / av.time_base)
        fps = float(video.average_rate)
        frames, n_frames, next_second = [], 0, 0.0
        for frame in container.decode(video=0):
            n_frames += 1
            if frame.time >= next_second:
                frames.append((frame.time, frame.to_ndarray(format="rgb24")))
                next_second += 1.0
        container.seek(0)
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        return Decoded(duration, video.codec_context.name, audio.codec_context.name, fps, n_frames,
                       frames, np.concatenate(chunks).astype(np.float32), audio.codec_context.sample_rate)


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((DEMO / "truth.json").read_text(encoding="utf-8"))


def all_entries(truth: dict) -> list[dict]:
    return truth["violations"] + truth["clean"]


def test_total_size_fits_the_repository_budget():
    total = sum(p.stat().st_size for p in DEMO.iterdir() if p.is_file())
    assert total <= MAX_TOTAL_BYTES, f"examples/demo holds {total} bytes"


def test_video_decodes_with_h264_and_aac(decoded: Decoded):
    assert 40.0 <= decoded.duration <= 60.0
    assert decoded.video_codec == "h264" and decoded.audio_codec == "aac"
    assert decoded.n_frames == pytest.approx(decoded.duration * decoded.fps, abs=2)
    assert decoded.frames_1hz[0][1].shape[2] == 3
    assert len(decoded.audio) / decoded.sample_rate == pytest.approx(decoded.duration, abs=0.3)


def test_broadcast_yaml_is_a_valid_broadcast_pointing_at_existing_files():
    raw = yaml.safe_load((DEMO / "broadcast.yaml").read_text(encoding="utf-8"))
    broadcast = Broadcast.model_validate(raw)
    assert (DEMO / broadcast.source).is_file()
    assert broadcast.cover and (DEMO / broadcast.cover).is_file()
    with Image.open(DEMO / broadcast.cover) as cover:
        cover.load()  # decodes fully, or raises
        assert cover.width >= 360 and cover.height >= 360
    assert broadcast.title and broadcast.profile and broadcast.products


def test_truth_entries_are_well_formed_and_inside_the_video(truth: dict, decoded: Decoded):
    assert truth["duration_s"] == pytest.approx(decoded.duration, abs=0.1)
    ids = [e["id"] for e in all_entries(truth)]
    assert len(ids) == len(set(ids))
    kinds = {k.value for k in FindingKind}
    modalities = {m.value for m in Modality}
    for v in truth["violations"]:
        assert v["kind"] == v["kinds"][0] and set(v["kinds"]) <= kinds, v
    for e in all_entries(truth):
        assert e["modality"] in modalities and e["text"], e
        if e["modality"] in UNTIMED:
            assert e["t_start"] is None and e["t_end"] is None, e
        else:
            assert 0.0 <= e["t_start"] < e["t_end"] <= decoded.duration + 0.01, e
    planted = {v["kind"] for v in truth["violations"]}
    assert {"absolute_term", "false_efficacy", "false_price", "fake_data", "offplatform_lure",
            "qr_code", "negative_list_product"} <= planted


def test_truth_matches_broadcast_metadata_and_markdown(truth: dict):
    raw = yaml.safe_load((DEMO / "broadcast.yaml").read_text(encoding="utf-8"))
    for v in truth["violations"]:
        if v["modality"] in ("title", "profile"):
            assert v["text"] == raw[v["modality"]]
    markdown = (DEMO / "TRUTH.md").read_text(encoding="utf-8")
    for e in all_entries(truth):
        assert f"| {e['id']} |" in markdown


def test_clean_and_violating_parts_of_one_channel_do_not_overlap(truth: dict):
    def channel(e: dict) -> tuple[str, str]:
        return e["modality"], e.get("where", "")

    for v in truth["violations"]:
        for c in truth["clean"]:
            if v["t_start"] is None or channel(v) != channel(c) or c.get("where") == "set":
                continue
            assert v["t_end"] <= c["t_start"] + 0.01 or c["t_end"] <= v["t_start"] + 0.01, (v["id"], c["id"])


def test_speech_times_match_the_audio(truth: dict, decoded: Decoded):
    """Loud inside every spoken span, near-silent between them: the truth times are where the voice is."""
    rate, audio = decoded.sample_rate, decoded.audio
    spans = sorted((e["t_start"], e["t_end"]) for e in all_entries(truth) if e["modality"] == "speech")
    assert len(spans) >= 8

    def rms(t0: float, t1: float) -> float:
        part = audio[int(t0 * rate):int(t1 * rate)]
        return float(np.sqrt(np.mean(part**2)))

    gaps = [(a_end + 0.1, b_start - 0.1) for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
            if b_start - a_end > 0.4]
    assert gaps
    loudest_gap = max(rms(*g) for g in gaps)
    for span in spans:
        assert rms(*span) > 8 * loudest_gap, span


def test_qr_code_is_readable_exactly_during_its_span(truth: dict, decoded: Decoded):
    qr_truth = next(v for v in truth["violations"] if v["kind"] == "qr_code")
    detector = cv2.QRCodeDetector()
    seen_at = []
    for t, rgb in decoded.frames_1hz:
        payload, *_ = detector.detectAndDecode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if payload:
            assert payload == qr_truth["payload"]
            seen_at.append(t)
    assert seen_at, "no QR code decoded in the demo"
    assert qr_truth["t_start"] - 0.1 <= min(seen_at) and max(seen_at) <= qr_truth["t_end"] + 0.1
    assert len(seen_at) >= int(qr_truth["t_end"] - qr_truth["t_start"]) - 1
