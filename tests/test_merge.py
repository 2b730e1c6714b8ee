from liveinspect.pipelines.merge import merge_repeated_findings
from liveinspect.schema import Evidence, Finding, TextSpan


def _banner(t, text="全网最低价", score=0.8, kind="absolute_term"):
    return Finding(kind=kind, modality="onscreen_text", t_start=t, t_end=t, score=score,
                   model="lexicon", model_version="1",
                   evidence=Evidence(text=TextSpan(text=text, start=0, end=len(text)), frame_index=int(t)))


def test_a_banner_seen_every_second_becomes_one_finding():
    merged = merge_repeated_findings([_banner(t, score=0.5 + t / 100) for t in range(10)], gap_s=2.0)
    assert len(merged) == 1
    assert (merged[0].t_start, merged[0].t_end) == (0, 9)
    assert merged[0].evidence.frame_index == 0
    assert merged[0].score == 0.59


def test_separate_appearances_and_different_evidence_stay_apart():
    findings = [_banner(0), _banner(1), _banner(30), _banner(1, text="已售10万件", kind="fake_data")]
    merged = merge_repeated_findings(findings, gap_s=2.0)
    assert sorted((f.kind.value, f.t_start, f.t_end) for f in merged) == [
        ("absolute_term", 0, 1), ("absolute_term", 30, 30), ("fake_data", 1, 1)]


def test_untimed_findings_are_kept_as_they_are():
    title = Finding(kind="absolute_term", modality="title", score=1.0, model="lexicon", model_version="1")
    assert merge_repeated_findings([title, title.model_copy()], gap_s=2.0) == [title, title]
