"""Explicit AI-content labels, declarations, and the three disclosure tiers."""

from __future__ import annotations

import pytest

from liveinspect.errors import PolicyError
from liveinspect.media.aigc import ImplicitLabel, ProvenanceMarks
from liveinspect.media.audio_cues import MorseCue
from liveinspect.pipelines.disclosure import (
    cue_label_evidence,
    disclosure_findings,
    implicit_label_evidence,
)
from liveinspect.policy import load_policy
from liveinspect.policy.labels import Medium, load_label_policy
from liveinspect.schema import Box, Evidence, Finding, FindingKind, Modality, Severity, TextItem
from liveinspect.text.ai_labels import find_explicit_labels, match_label_phrases


@pytest.mark.parametrize("text,matched,group", [
    ("本视频由AI生成", "由AI生成", "ai_generated"),
    ("人工智能生成内容", "人工智能生成", "ai_generated"),
    ("虚拟主播小美为您服务", "虚拟主播", "virtual_presenter"),
    ("AI 数 字 人 直播中", "AI 数 字 人", "virtual_presenter"),  # OCR spacing
    ("ＡＩ合成", "ＡＩ合成", "ai_generated"),  # full width
    ("數字人直播", "數字人", "virtual_presenter"),
    ("Our AI-Generated presenter", "AI-Generated", "ai_generated"),
    ("hosted by a virtual presenter", "virtual presenter", "virtual_presenter"),
    ("AI voice-over by studio X", "AI voice-over", "synthetic_voice"),
])
def test_phrases_found_with_their_span(text, matched, group):
    found = match_label_phrases(text)
    assert [(p.group, span.matched) for p, span in found] == [(group, matched)]


@pytest.mark.parametrize("text", ["非AI生成", "本品并非AI生成", "没有使用AI配音", "This is not AI-generated",
                                  "no AI voice here", "FAI hostel", "aidigital humanity", "全网最低价"])
def test_denials_and_near_misses_are_not_labels(text):
    assert match_label_phrases(text) == []


def test_onscreen_label_prominence_rule():
    frame = (1280, 720)
    big = TextItem(modality=Modality.onscreen_text, text="AI生成", t_start=0.0, t_end=3.0,
                   box=Box(x0=10, y0=10, x1=200, y1=60), frame_index=0, source="frames")
    small = big.model_copy(update={"box": Box(x0=10, y0=10, x1=80, y1=24)})
    brief = big.model_copy(update={"t_end": 0.0})
    [b], [s], [r] = (find_explicit_labels([item], frame_size=frame) for item in (big, small, brief))
    assert b.prominent is True and b.tier == "labelled" and b.how == "onscreen" and not b.notes
    assert s.prominent is False and "below 5%" in s.notes[0]
    assert r.prominent is False and "1.0 s" in r.notes[0]  # one sampled frame at 1 fps
    assert b.discloses == frozenset({Medium.voice, Medium.avatar})


def test_sources_map_to_tiers():
    items = [TextItem(modality=Modality.title, text="虚拟主播带你逛", source="title"),
             TextItem(modality=Modality.profile, text="AI数字人直播间", source="profile"),
             TextItem(modality=Modality.title, text="AI配音 面霜", source="product_list"),
             TextItem(modality=Modality.speech, text="以下内容由AI生成", t_start=0.5, t_end=2.0),
             TextItem(modality=Modality.speech, text="this voice is AI-generated", t_start=40.0, t_end=42.0),
             TextItem(modality=Modality.onscreen_text, text="全网最低价", t_start=1.0, t_end=2.0)]
    evidence = find_explicit_labels(items)
    assert [(e.tier, e.how) for e in evidence] == [
        ("declared", "title"), ("declared", "profile"), ("declared", "product_list"),
        ("labelled", "spoken"), ("labelled", "spoken")]
    assert evidence[2].discloses == frozenset({Medium.voice})
    assert "not in the first 10 s" in evidence[4].notes[0] and not evidence[3].notes


def _voice_detection(score: float) -> Finding:
    return Finding(kind=FindingKind.synthetic_voice, modality=Modality.audio, t_start=3.0, t_end=20.0,
                   evidence=Evidence(audio_span=(3.0, 20.0)), score=score, model="voice-head",
                   model_version="abc")


def test_three_tiers():
    detection = _voice_detection(0.93)
    # suspected: nothing discloses the voice
    [suspected] = disclosure_findings([detection], [])
    assert suspected.kind is FindingKind.undisclosed_synthetic_media
    assert (suspected.t_start, suspected.t_end, suspected.score) == (3.0, 20.0, 0.93)
    assert suspected.evidence.audio_span == (3.0, 20.0) and suspected.evidence.category == "suspected:voice"
    # declared: the title says so
    declared = find_explicit_labels([TextItem(modality=Modality.title, text="虚拟主播 限时秒杀")])
    [info] = disclosure_findings([detection], declared)
    assert info.kind is FindingKind.aigc_declared and info.evidence.matched_term == "虚拟主播"
    # labelled: the file's metadata carries the AIGC object
    tag = ImplicitLabel({"Label": "1", "ContentProducer": "x"}, "container tag 'AIGC'")
    marks = ProvenanceMarks(labels=[tag])
    [labelled] = disclosure_findings([detection], implicit_label_evidence(marks))
    assert labelled.kind is FindingKind.aigc_label and labelled.evidence.category == "metadata:implicit"
    # labelled by the Morse cue
    cue = MorseCue(t_start=0.5, t_end=1.4, frequency_hz=1000.0, unit_s=0.1, score=1.0)
    [by_cue] = disclosure_findings([detection], cue_label_evidence([cue]))
    assert by_cue.kind is FindingKind.aigc_label and by_cue.evidence.audio_span == (0.5, 1.4)


def test_label_for_the_voice_does_not_disclose_the_presenter():
    avatar = Finding(kind=FindingKind.synthetic_avatar, modality=Modality.frame, t_start=0.0, t_end=30.0,
                     score=0.8, model="avatar-head", model_version="1")
    voice_only = find_explicit_labels([TextItem(modality=Modality.profile, text="本直播间使用AI配音")])
    kinds = [f.kind for f in disclosure_findings([avatar, _voice_detection(0.9)], voice_only)]
    assert kinds == [FindingKind.aigc_declared, FindingKind.undisclosed_synthetic_media]


def test_below_threshold_is_not_suspected():
    assert disclosure_findings([_voice_detection(0.2)], []) == []


def test_policy_grades_the_tiers():
    policy = load_policy()
    [suspected] = disclosure_findings([_voice_detection(0.95)], [])
    graded = policy.grade(suspected)
    assert graded.severity is Severity.high and {"Art-13", "Art-25", "AIGCLabel-6"} <= set(graded.articles)
    title = TextItem(modality=Modality.title, text="数字人")
    [declared] = disclosure_findings([], find_explicit_labels([title]))
    assert policy.grade(declared).severity is Severity.info
    assert policy.grade(_voice_detection(0.95)).severity is Severity.info  # the observation alone


def test_label_policy_errors_name_the_field(tmp_path):
    assert load_label_policy().thresholds.voice == pytest.approx(0.5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{id: x, discloses: [smell], zh: [a]}]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="groups.0.discloses"):
        load_label_policy(bad)
    bad.write_text("groups: [{id: x, discloses: [voice]}]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="no phrases"):
        load_label_policy(bad)
    custom = tmp_path / "labels.yaml"
    custom.write_text("groups: [{id: house, discloses: [avatar], zh: [小美是AI]}]\n", encoding="utf-8")
    policy = load_label_policy(custom)
    assert [p.group for p, _ in match_label_phrases("主播小美是AI哦", policy)] == ["house"]
