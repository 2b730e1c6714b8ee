"""Claim legality by product category: product_rules.yaml, the Product model's categories, and the
text analyzer reading an efficacy claim against the product a sentence is about."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from liveinspect.broadcast_file import load_broadcast
from liveinspect.errors import PolicyError
from liveinspect.models.claims.labels import CLASSIFIER_LABELS
from liveinspect.pipelines.product_context import TextContext
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.policy import load_policy
from liveinspect.policy.loader import default_policy_path
from liveinspect.schema import FindingKind, Modality, Product, ProductCategory, TextItem

K = FindingKind
ROOT = Path(__file__).resolve().parents[1]
SUGAR = "这款产品能降血糖"  # "this product lowers blood sugar"

FOOD = Product(name="苦荞茶", category="ordinary_food")
DRUG = Product(name="某某片", category="drug_otc", indications=["用于辅助降血糖"],
               registration="EXAMPLE-1")
HEALTH = Product(name="蓝帽子胶囊", category="health_food", functions=["辅助降血糖"],
                 registration="EXAMPLE-2")
HEALTH_IMMUNE = Product(name="免疫胶囊", category="health_food", functions=["增强免疫力"],
                        registration="EXAMPLE-3")


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer(policy=load_policy())  # the lexicon: no model needed to test the rules


def kinds(findings) -> list[FindingKind]:
    return [f.kind for f in findings]


def test_the_same_sentence_flips_with_the_category(analyzer: TextAnalyzer) -> None:
    [strict] = analyzer.analyze_text(SUGAR)
    assert strict.kind is K.false_efficacy and strict.evidence.rule == "product_rules:strict"
    assert "read strictly" in strict.message
    [food] = analyzer.analyze_text(SUGAR, product=FOOD)
    assert food.evidence.rule == "product_rules:ordinary_food:no_efficacy_claims"
    assert food.evidence.product == "苦荞茶" and food.evidence.product_category == "ordinary_food"
    assert food.evidence.decided_by == "lexicon" and food.articles and food.severity.rank >= 2
    assert analyzer.analyze_text(SUGAR, product=DRUG) == []  # its approved indication
    assert analyzer.analyze_text(SUGAR, product=HEALTH) == []  # its approved function
    [beyond] = analyzer.analyze_text(SUGAR, product=HEALTH_IMMUNE)
    assert beyond.evidence.rule == "product_rules:health_food:beyond_approved:blood_sugar"


def test_registration_never_wording_and_forbidden_topics(analyzer: TextAnalyzer) -> None:
    unregistered = HEALTH.model_copy(update={"registration": None})
    [f] = analyzer.analyze_text(SUGAR, product=unregistered)
    assert f.evidence.rule == "product_rules:health_food:unregistered"
    findings = analyzer.analyze_text("降血糖，吃一次就好，根治", product=DRUG)
    assert findings and all(f.evidence.rule == "product_rules:never:cure_guarantee" for f in findings)
    assert "whatever its registration" in findings[0].message
    findings = analyzer.analyze_text("降血糖的同时还能治疗肿瘤", product=HEALTH)
    assert {f.evidence.text.matched for f in findings} == {"降血糖", "治疗"}
    assert {f.evidence.rule for f in findings} == {"product_rules:health_food:forbidden:disease"}


def test_lawful_notices_are_not_claims(analyzer: TextAnalyzer) -> None:
    context = TextContext()
    notice = "保健食品不是药物，不能代替药物治疗疾病"
    assert analyzer.analyze([TextItem(modality=Modality.speech, text=notice)], context=context) == []
    [withdrawn] = context.withdrawn
    assert withdrawn.rule == "product_rules:notice" and withdrawn.kind == "false_efficacy"
    # a notice does not cover a claim made next to it
    claim = "不能代替药物，但是吃了就能降血压"
    assert kinds(analyzer.analyze_text(claim, product=HEALTH)) == [K.false_efficacy]


def test_a_category_that_may_not_be_sold_live(analyzer: TextAnalyzer) -> None:
    rx = Product(name="处方降糖药", category="drug_prescription", indications=["用于2型糖尿病"])
    [f] = analyzer.analyze_text("今天直播间下单就发", product=rx)
    assert f.kind is K.negative_list_product and f.evidence.decided_by == "category_rule"
    assert f.evidence.category == "prescription_drugs"  # graded as the negative-list category
    assert f.evidence.rule == "product_rules:drug_prescription:no_live_sale"
    assert f.severity is load_policy().category("prescription_drugs").severity
    assert analyzer.analyze_text("今天直播间下单就发", product=FOOD) == []


def test_the_product_a_sentence_is_about_in_a_scan(analyzer: TextAnalyzer) -> None:
    """Two products on sale: each sentence is read against the one named nearest in time."""
    context = analyzer.open_context([Product(name="苦荞茶 500g", category="cosmetics"), DRUG])
    items = [TextItem(modality=Modality.speech, text="接下来讲这款某某片", t_start=10.0, t_end=12.0),
             TextItem(modality=Modality.speech, text=SUGAR, t_start=14.0, t_end=16.0),
             TextItem(modality=Modality.speech, text="好，我们再看苦荞茶", t_start=40.0, t_end=42.0),
             TextItem(modality=Modality.speech, text=SUGAR, t_start=45.0, t_end=47.0)]
    findings = analyzer.observe(items, context=context)
    [f] = findings
    assert f.t_start == 45.0 and f.evidence.product == "苦荞茶 500g"
    assert f.evidence.product_category == "cosmetic"
    assert [w.product for w in context.withdrawn] == ["某某片"]


def test_products_presented_in_a_window() -> None:
    analyzer = TextAnalyzer(policy=load_policy())
    drug = DRUG.model_copy(update={"t_start": 0.0, "t_end": 30.0})
    food = FOOD.model_copy(update={"t_start": 30.0, "t_end": 60.0})
    early = TextItem(modality=Modality.speech, text=SUGAR, t_start=5.0, t_end=7.0)
    late = TextItem(modality=Modality.speech, text=SUGAR, t_start=35.0, t_end=37.0)
    assert analyzer.observe([early], products=[drug, food]) == []
    assert kinds(analyzer.observe([late], products=[drug, food])) == [K.false_efficacy]


class OneKindClassifier:
    """Rates every sentence containing `word` as `kind` with probability `p` (a real, tiny model)."""

    name = "one-kind"
    version = "1"
    labels = list(CLASSIFIER_LABELS)

    def __init__(self, word: str, kind: str, p: float) -> None:
        self.word, self.kind, self.p = word, kind, p

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.full((len(texts), len(self.labels)), 0.0)
        for i, text in enumerate(texts):
            hit = self.word in text
            rows[i, self.labels.index(self.kind if hit else "compliant")] = self.p if hit else 1.0
            if hit:
                rows[i, self.labels.index("compliant")] = 1.0 - self.p
        return rows


def test_thresholds_per_kind_come_from_the_policy(tmp_path: Path) -> None:
    data = yaml.safe_load(default_policy_path("product_rules").read_text(encoding="utf-8"))
    data["thresholds"]["fake_data"] = 0.9
    path = tmp_path / "product_rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    strict_policy = load_policy(product_rules=path)
    assert strict_policy.version != load_policy().version  # the file is in the version hash
    classifier = OneKindClassifier("好几万", "fake_data", 0.8)
    text = "每天好几万人在下单"
    default = TextAnalyzer(policy=load_policy(), classifier=classifier)
    assert kinds(default.analyze_text(text)) == [K.fake_data]
    assert TextAnalyzer(policy=strict_policy, classifier=classifier).analyze_text(text) == []
    # an explicit threshold still overrides the policy's, for every kind
    assert kinds(TextAnalyzer(policy=strict_policy, classifier=classifier,
                              classifier_threshold=0.5).analyze_text(text)) == [K.fake_data]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["categories"].pop(0), "no rule for product categories"),
    (lambda d: d["thresholds"].__setitem__("false_efficacy", 1.5), "not in"),
    (lambda d: d["thresholds"].__setitem__("spam", 0.5), "not a finding kind"),
    (lambda d: d["categories"][1].__setitem__("forbidden_topics", ["astrology"]), "unknown topics"),
])
def test_malformed_product_rules_are_reported(tmp_path: Path, change, message: str) -> None:
    data = yaml.safe_load(default_policy_path("product_rules").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "product_rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match=message):
        load_policy(product_rules=path)


def test_free_text_categories_of_older_product_lists_still_load() -> None:
    broadcast = load_broadcast(ROOT / "examples" / "demo" / "broadcast.yaml")
    assert [p.category for p in broadcast.products] == [ProductCategory.cosmetic] * 2
    assert broadcast.products[0].category_label == "cosmetics"
    assert Product(name="x", category="保健食品").category is ProductCategory.health_food
    assert Product(name="x", category="Health Food").category is ProductCategory.health_food
    odd = Product(name="x", category="widgets")
    assert odd.category is ProductCategory.other and odd.category_label == "widgets"
    same = Product(name="x", category="drug_otc")
    assert same.category is ProductCategory.drug_otc and same.category_label is None
    assert Product.model_validate_json(odd.model_dump_json()) == odd
