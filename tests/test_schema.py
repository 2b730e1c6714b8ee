import json

import pytest
from pydantic import ValidationError

from liveinspect.schema import (
    SCHEMA_VERSION, Action, AnalyzerStatus, Box, Broadcast, Evidence, Finding, FindingKind,
    MediaStatus, Modality, Product, Report, Severity, TextItem, TextSpan, Verdict,
    report_json_schema, write_json_schema,
)


def _report() -> Report:
    finding = Finding(
        kind=FindingKind.absolute_term, modality=Modality.onscreen_text, t_start=3.0, t_end=5.5,
        evidence=Evidence(text=TextSpan(text="全网最低价", start=0, end=5), frame_index=3,
                          box=Box(x0=1, y0=2, x1=30, y1=40), matched_term="全网最低"),
        score=0.9, model="lexicon", model_version="abc", articles=["AdLaw-9"],
        severity=Severity.high, action=Action.violation_warning, message="absolute term")
    return Report(
        broadcast=Broadcast(source="a.mp4", title="标题", products=[Product(name="面霜", price=99.0)]),
        media=MediaStatus(state="partial", duration_s=12.0, segments=1, frames=12,
                          message="truncated", stopped_at=12.0),
        findings=[finding],
        texts=[TextItem(modality=Modality.speech, text="hello", t_start=1.0, t_end=2.0,
                        words=[("hello", 1.0, 2.0)])],
        analyzers=[AnalyzerStatus(name="voice", state="skipped", reason="not shipped")],
        verdict=Verdict(severity=Severity.high, action=Action.violation_warning,
                        by_article={"AdLaw-9": 1}, by_kind={"absolute_term": 1}),
        timings={"total_s": 1.5})


def test_report_round_trips_through_json():
    report = _report()
    again = Report.from_json(report.to_json())
    assert again == report
    assert again.schema_version == SCHEMA_VERSION
    assert again.findings[0].evidence.text.matched == "全网最低价"
    assert again.texts[0].words == [("hello", 1.0, 2.0)]


def test_json_uses_plain_names_for_enums():
    data = json.loads(_report().to_json())
    assert data["findings"][0]["kind"] == "absolute_term"
    assert data["findings"][0]["severity"] == "high"
    assert data["analyzers"][0]["state"] == "skipped"


def test_unknown_kind_and_bad_spans_are_rejected():
    with pytest.raises(ValidationError):
        Finding(kind="made_up", modality="speech", score=0.5, model="m", model_version="1")
    with pytest.raises(ValidationError):
        TextSpan(text="abc", start=2, end=9)
    with pytest.raises(ValidationError):
        Box(x0=10, y0=0, x1=5, y1=5)
    with pytest.raises(ValidationError):
        Finding(kind="qr_code", modality="frame", score=1.5, model="m", model_version="1")


def test_severity_and_action_are_ordered():
    assert [s.rank for s in Severity] == list(range(5))
    assert Severity.critical.rank > Severity.high.rank > Severity.info.rank
    assert Action.suspension.rank > Action.traffic_restriction.rank > Action.popup_prompt.rank


def test_json_schema_export(tmp_path):
    schema = report_json_schema()
    assert "findings" in schema["properties"]
    kinds = schema["$defs"]["FindingKind"]["enum"]
    assert set(kinds) == {k.value for k in FindingKind}
    path = write_json_schema(tmp_path / "report.schema.json")
    assert json.loads(path.read_text())["title"] == "Report"
