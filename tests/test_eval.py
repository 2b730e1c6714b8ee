"""`liveinspect eval claims`: three systems side by side, metrics.json and the HTML report."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from liveinspect.cli import main
from liveinspect.eval.claims import _label_of, evaluate_claims, read_labelled_texts
from liveinspect.eval.classification import SystemOutputs, evaluate_system, worst_errors
from liveinspect.eval.report import write_eval_report
from liveinspect.pipelines.text import CLASSIFIER_LABELS, TextAnalyzer

DATA = Path(__file__).resolve().parents[1] / "liveinspect" / "data" / "claims"
ROWS = [("三天祛斑，一周白一个度", "false_efficacy"), ("这款面霜很滋润", "compliant"),
        ("全网第一的面膜", "absolute_term"), ("第一次下单的朋友可以先买小样", "compliant"),
        ("已经卖出十万单了", "fake_data"), ("加我微信私聊", "offplatform_lure")]


class FixedClassifier:
    """Returns the probabilities it was given for each known text: a real, if tiny, classifier."""

    name = "fixed"
    version = "1"
    labels = [label for label in CLASSIFIER_LABELS if label != "misleading_claim"]  # the first seven

    def __init__(self, table: dict[str, str], confidence: float = 0.9) -> None:
        self.table = table
        self.confidence = confidence

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        n = len(self.labels)
        rows = np.full((len(texts), n), (1 - self.confidence) / (n - 1))
        for i, text in enumerate(texts):
            label = next((v for k, v in self.table.items() if k in text), "compliant")
            rows[i, self.labels.index(label)] = self.confidence
        return rows


def test_lexicon_only_prediction_is_the_gravest_finding() -> None:
    analyzer = TextAnalyzer()
    assert _label_of(analyzer.analyze_text("这款面霜很滋润")) == "compliant"
    assert _label_of(analyzer.analyze_text("三天祛斑")) == "false_efficacy"
    findings = analyzer.analyze_text("全网最低价！三天祛斑")
    gravest = max(findings, key=lambda f: (f.severity.rank, f.score))
    assert _label_of(findings) == gravest.kind.value


def test_three_systems_side_by_side() -> None:
    texts = [t for t, _ in ROWS]
    y = [CLASSIFIER_LABELS.index(label) for _, label in ROWS]
    classifier = FixedClassifier({"十万单": "fake_data", "祛斑": "false_efficacy"})
    results = evaluate_claims(texts, y, classifier, n_resamples=50, progress=False)
    systems = results["systems"]
    assert list(systems) == ["lexicon-only", "classifier-only", "combined"]
    lexicon, alone, combined = systems.values()
    # the lexicon misses the sales figure; the classifier knows it; combined gets both
    assert lexicon["per_class"]["fake_data"]["recall"] == 0.0
    assert combined["per_class"]["fake_data"]["recall"] == 1.0
    assert combined["accuracy"] >= lexicon["accuracy"]
    assert alone["per_class"]["absolute_term"]["recall"] == 0.0
    assert "ece" in alone and "ece" not in lexicon
    assert sorted(alone["reliability"]["counts"])[-2:] == [0, 6]  # every row at confidence 0.9
    for metrics in systems.values():
        assert metrics["rows"] == 6 and sum(map(sum, metrics["confusion_matrix"])) == 6
        interval = metrics["intervals"]["macro_f1"]
        assert interval["low"] <= metrics["macro"]["f1"] <= interval["high"]
        assert metrics["detection"]["positives"] == 4 and metrics["detection"]["negatives"] == 2


def test_worst_errors_are_most_confident_first() -> None:
    outputs = SystemOutputs("s", np.array([1, 1, 0]), probabilities=np.array([[0.4, 0.6], [0.1, 0.9],
                                                                                [0.7, 0.3]]))
    errors = worst_errors(["a", "b", "c"], [0, 0, 0], outputs, ["x", "y"])
    assert [e["text"] for e in errors] == ["b", "a"]
    assert errors[0] == {"text": "b", "true": "x", "predicted": "y", "confidence": 0.9}


def test_report_renders_with_plots(tmp_path: Path) -> None:
    outputs = SystemOutputs("scores", np.array([0, 1, 1, 0]), probabilities=np.array(
        [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]]), detection_scores=np.array([0.2, 0.7, 0.6, 0.4]))
    metrics = evaluate_system(outputs, [0, 1, 0, 1], ["compliant", "violation"], negative_label="compliant",
                              n_resamples=30)
    metrics["worst_errors"] = [{"text": "<script>alert(1)</script>", "true": "compliant",
                                "predicted": "violation", "confidence": 0.6}]
    results = {"task": "toy", "labels": ["compliant", "violation"], "rows": 4, "systems": {"scores": metrics}}
    files = write_eval_report(results, tmp_path)
    html = files.html.read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', html)
    assert {"roc.png", "det.png", "confusion-scores.png", "reliability-scores.png"} <= set(images)
    for name in images:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 300
    assert "<script>" not in html and "&lt;script&gt;" in html  # texts are escaped
    assert '<span class="ci">' in html
    assert json.loads(files.metrics_json.read_text())["systems"]["scores"]["detection"]["roc_auc"] == 0.75


def test_read_labelled_texts() -> None:
    texts, y = read_labelled_texts(DATA / "test.jsonl")
    assert len(texts) == len(y) >= 80 and set(y) == set(range(7))  # no misleading_claim rows


def test_cli_eval_claims_on_the_held_out_split(tmp_path: Path) -> None:
    code = main(["eval", "claims", "--data", str(DATA / "test.jsonl"), "--out", str(tmp_path),
                 "--resamples", "50", "--no-progress"])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["classifier"]["name"] == "claims-combined"
    systems = metrics["systems"]
    assert list(systems) == ["lexicon-only", "ngram", "encoder", "lexicon+ngram", "combined"]
    # the shipped model must add to the lexicon on its own held-out split
    assert systems["combined"]["macro"]["f1"] > systems["lexicon-only"]["macro"]["f1"]
    assert (tmp_path / "report.html").is_file() and (tmp_path / "roc.png").is_file()


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "claims", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "spam"}\n')
    assert main(["train", "claims", "--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "spam" in capsys.readouterr().err


def test_cli_train_claims_small(tmp_path: Path) -> None:
    code = main(["train", "claims", "--data", str(DATA / "test.jsonl"), "--out", str(tmp_path / "m"),
                 "--epochs", "2", "--buckets", "4096", "--onnx", "--no-progress"])
    assert code == 0
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    assert card["training"]["config"]["epochs"] == 2 and card["architecture"]["featurizer"]["buckets"] == 4096
    assert (tmp_path / "m" / "model.onnx").is_file()
