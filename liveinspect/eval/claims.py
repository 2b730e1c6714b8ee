"""`liveinspect eval claims`: the claim check's evidence sources side by side.

Systems (each row is one sentence, rated as one label):

- lexicon-only: `TextAnalyzer` without a classifier; a row is the kind of its
  gravest finding (severity, then score), else `compliant`; its detection
  score is the highest finding score (0 without findings).
- ngram / encoder: one classifier alone, its most probable label; detection
  score 1 - P(compliant).
- lexicon+ngram: the analyzer with the n-gram model (the shipped check before
  the encoder), read like lexicon-only.
- combined: the analyzer with lexicon, n-gram and encoder and the category
  rules, given each row's product (`product` column: category, approved
  functions or indications, registration), read like lexicon-only.

Every system gets macro-F1 over kinds and binary violation-vs-compliant
precision, recall and F1, each with a bootstrap interval, overall and per
language; the analyzer systems also count which source of evidence decided
each row (lexicon, ngram, encoder, ngram+encoder, category_rule) and how
many efficacy findings the category rules withdrew.

Labels are those of the data: on a set without `misleading_claim` rows (the
hand-written split) a misleading_claim prediction counts as false_efficacy,
the convention that split was labelled by, so numbers stay comparable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from liveinspect.errors import DataError
from liveinspect.eval.bootstrap import bootstrap_interval
from liveinspect.eval.classification import SystemOutputs, evaluate_system, worst_errors
from liveinspect.eval.metrics import macro_f1
from liveinspect.models.claims.labels import CLASSIFIER_LABELS, COMPLIANT
from liveinspect.pipelines.product_context import TextContext
from liveinspect.pipelines.text import ClaimClassifier, TextAnalyzer
from liveinspect.schema import Finding, Modality, Product, TextItem

# A kind the labels of a data set may lack, and the label such a set used for it.
_FALLBACK = {"misleading_claim": "false_efficacy"}


@dataclass
class ClaimRows:
    texts: list[str]
    labels: list[str]
    langs: list[str]
    products: list[Product | None]
    ids: list[str] = field(default_factory=list)


def read_claim_rows(path: str | Path, text_column: str = "text", label_column: str = "label") -> ClaimRows:
    """Rows of a labelled claims file (jsonl/csv/parquet): text, label, and optionally lang, id and
    product (an object with the fields of `Product`; `name` may be left out)."""
    from liveinspect.datasets import load_local_dataset

    dataset = load_local_dataset(path)
    for column in (text_column, label_column):
        if column not in dataset.column_names:
            raise DataError(f"{path} has no {column!r} column (columns: {dataset.column_names})")
    labels = [str(v) for v in dataset[label_column]]
    unknown = sorted(set(labels) - set(CLASSIFIER_LABELS))
    if unknown:
        raise DataError(f"{path}: unknown labels {unknown}; expected labels from {CLASSIFIER_LABELS}")
    n = len(labels)
    langs = [str(v) for v in dataset["lang"]] if "lang" in dataset.column_names else ["?"] * n
    ids = [str(v) for v in dataset["id"]] if "id" in dataset.column_names else [str(i) for i in range(n)]
    products: list[Product | None] = [None] * n
    if "product" in dataset.column_names:
        products = [None if not p else Product.model_validate(
            {"name": p.get("name") or "(product)", **{k: v for k, v in p.items() if v not in (None, [])
                                                       and k != "name"}}) for p in dataset["product"]]
    return ClaimRows([str(t) for t in dataset[text_column]], labels, langs, products, ids)


def read_labelled_texts(path: str | Path, text_column: str = "text",
                        label_column: str = "label") -> tuple[list[str], list[int]]:
    """Texts and label indices into `CLASSIFIER_LABELS` (for callers that need no products)."""
    rows = read_claim_rows(path, text_column, label_column)
    return rows.texts, [CLASSIFIER_LABELS.index(label) for label in rows.labels]


def _gravest(findings: Sequence[Finding], labels: Sequence[str]) -> tuple[str, Finding | None]:
    if not findings:
        return COMPLIANT, None
    gravest = max(findings, key=lambda f: (f.severity.rank, f.score))
    label = gravest.kind.value
    if label not in labels:
        label = _FALLBACK.get(label, COMPLIANT)
    return (label if label in labels else COMPLIANT), gravest


def _label_of(findings: Sequence[Finding], labels: Sequence[str] = CLASSIFIER_LABELS) -> str:
    """A row's label: the kind of its gravest finding (severity, then score), else compliant."""
    return _gravest(findings, labels)[0]


def analyzer_outputs(name: str, analyzer: TextAnalyzer, rows: ClaimRows, labels: Sequence[str], *,
                     use_products: bool = False, progress: bool = True) -> tuple[SystemOutputs, dict]:
    """The analyzer's label per row, and which evidence source decided each violating row."""
    index = {label: i for i, label in enumerate(labels)}
    predictions, scores = [], []
    decided: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    withdrawn: Counter[str] = Counter()
    for text, product in tqdm(list(zip(rows.texts, rows.products, strict=True)), desc=name, unit="text",
                              disable=not progress):
        context = TextContext.for_product(product) if use_products and product is not None else None
        if context is None:
            context = TextContext()
        findings = analyzer.analyze([TextItem(modality=Modality.speech, text=text, source="eval")],
                                    context=context)
        label, gravest = _gravest(findings, labels)
        predictions.append(index[label])
        scores.append(max((f.score for f in findings), default=0.0))
        if gravest is not None and label != COMPLIANT:
            decided[gravest.evidence.decided_by or gravest.model] += 1
            if gravest.evidence.rule:
                rules[gravest.evidence.rule.split(":")[1] if ":" in gravest.evidence.rule else
                      gravest.evidence.rule] += 1
        for entry in context.withdrawn:
            withdrawn[entry.rule.split(":")[1]] += 1
        if context.withdrawn and label == COMPLIANT:
            decided["category_rule (withdrew every finding)"] += 1
    evidence = {"decided_by": dict(decided.most_common()),
                "rules_on_kept_findings": dict(rules.most_common()),
                "withdrawn_by_category_rules": dict(withdrawn.most_common())}
    return SystemOutputs(name, np.asarray(predictions), detection_scores=np.asarray(scores)), evidence


def classifier_outputs(name: str, classifier: ClaimClassifier, texts: Sequence[str], labels: Sequence[str],
                       batch_size: int = 64) -> SystemOutputs:
    """The classifier alone; columns of labels the data lacks are folded into their fallback."""
    probabilities = np.concatenate([np.asarray(classifier.predict_proba(list(texts[i:i + batch_size])))
                                    for i in range(0, len(texts), batch_size)]) if texts else \
        np.zeros((0, len(classifier.labels)))
    folded = np.zeros((len(texts), len(labels)))
    for column, label in enumerate(classifier.labels):
        target = label if label in labels else _FALLBACK.get(label, COMPLIANT)
        if target not in labels:
            raise DataError(f"classifier label {label!r} has no place among {list(labels)}")
        folded[:, list(labels).index(target)] += probabilities[:, column]
    compliant = list(labels).index(COMPLIANT)
    return SystemOutputs(name, folded.argmax(axis=1), probabilities=folded,
                         detection_scores=1.0 - folded[:, compliant])


def _binary(y_true: np.ndarray, y_pred: np.ndarray, compliant: int, n_resamples: int, seed: int) -> dict:
    positive, flagged = y_true != compliant, y_pred != compliant

    def precision(p: np.ndarray, f: np.ndarray) -> float:
        return float((p & f).sum() / f.sum()) if f.sum() else 0.0

    def recall(p: np.ndarray, f: np.ndarray) -> float:
        return float((p & f).sum() / p.sum()) if p.sum() else 0.0

    def f1(p: np.ndarray, f: np.ndarray) -> float:
        pr, rc = precision(p, f), recall(p, f)
        return 2 * pr * rc / (pr + rc) if pr + rc else 0.0

    result = {}
    for name, metric in (("precision", precision), ("recall", recall), ("f1", f1)):
        result[name] = metric(positive, flagged)
        result[f"{name}_interval"] = bootstrap_interval(metric, positive, flagged, n_resamples=n_resamples,
                                                        seed=seed).to_dict()
    result["violations"], result["compliant"] = int(positive.sum()), int((~positive).sum())
    return result


def _summary(y: np.ndarray, predictions: np.ndarray, labels: Sequence[str], n_resamples: int,
             seed: int) -> dict:
    compliant = list(labels).index(COMPLIANT)
    n = len(labels)
    return {"rows": int(len(y)),
            "macro_f1": macro_f1(y, predictions, n),
            "macro_f1_interval": bootstrap_interval(lambda t, p: macro_f1(t, p, n), y, predictions,
                                                    n_resamples=n_resamples, seed=seed).to_dict(),
            "binary": _binary(y, predictions, compliant, n_resamples, seed)}


def evaluate_claims(rows: ClaimRows | Sequence[str], *args: object, ngram: ClaimClassifier | None = None,
                    encoder: ClaimClassifier | None = None, threshold: float | None = None,
                    n_resamples: int = 1000, seed: int = 0, progress: bool = True) -> dict:
    """Metrics of every system (see the module docstring), per language, and their worst errors.

    `evaluate_claims(rows, classifier)` with `ClaimRows`, or `evaluate_claims(texts, y, classifier)`
    with label indices into `CLASSIFIER_LABELS`. `classifier` is the one the combined system uses
    (e.g. `CombinedClaimClassifier`; None: lexicon only); `ngram` and `encoder`, when given, are
    evaluated alone too, and `ngram` inside the analyzer; without them the classifier is
    evaluated alone ("classifier-only")."""
    if isinstance(rows, ClaimRows):
        (classifier,) = args
    else:
        y_idx, classifier = args
        rows = ClaimRows(list(rows), [CLASSIFIER_LABELS[i] for i in y_idx], ["?"] * len(rows),
                         [None] * len(rows))
    # A kind with a fallback label is dropped only when the data never uses it (see the docstring).
    labels = [label for label in CLASSIFIER_LABELS if label in set(rows.labels) or label not in _FALLBACK]
    y = np.asarray([labels.index(label) for label in rows.labels])
    systems: list[tuple[SystemOutputs, dict | None]] = [
        analyzer_outputs("lexicon-only", TextAnalyzer(), rows, labels, progress=progress)]
    alone_systems = [("ngram", ngram), ("encoder", encoder)]
    if ngram is None and encoder is None:
        alone_systems = [("classifier-only", classifier)]
    for name, alone in alone_systems:
        if alone is not None:
            systems.append((classifier_outputs(name, alone, rows.texts, labels), None))
    if ngram is not None and ngram is not classifier:
        analyzer = TextAnalyzer(classifier=ngram, classifier_threshold=threshold)
        systems.append(analyzer_outputs("lexicon+ngram", analyzer, rows, labels, use_products=True,
                                        progress=progress))
    if classifier is not None:
        analyzer = TextAnalyzer(classifier=classifier, classifier_threshold=threshold)
        systems.append(analyzer_outputs("combined", analyzer, rows, labels, use_products=True,
                                        progress=progress))
    results = {"task": "claims", "labels": labels, "rows": len(rows.texts),
               "classifier": None if classifier is None else {"name": classifier.name,
                                                              "version": classifier.version},
               "classifier_threshold": "per kind (product_rules.yaml)" if threshold is None else threshold,
               "languages": dict(Counter(rows.langs)), "systems": {}}
    langs = np.asarray(rows.langs)
    for outputs, evidence in systems:
        metrics = evaluate_system(outputs, y, labels, negative_label=COMPLIANT, n_resamples=n_resamples,
                                  seed=seed)
        metrics["summary"] = _summary(y, outputs.predictions, labels, n_resamples, seed)
        metrics["per_language"] = {
            lang: _summary(y[langs == lang], np.asarray(outputs.predictions)[langs == lang], labels,
                           n_resamples, seed) for lang in sorted(set(rows.langs))}
        if evidence is not None:
            metrics["evidence"] = evidence
        metrics["worst_errors"] = worst_errors(rows.texts, y, outputs, labels)
        results["systems"][outputs.name] = metrics
    return results


def format_claims_table(results: dict) -> str:
    """The headline numbers of every system as a small text table."""
    lines = [f"{'system':14s} {'macro-F1':>18s} {'precision':>18s} {'recall':>18s} {'binary F1':>18s}"]

    def cell(value: float, interval: dict) -> str:
        return f"{value:.3f} [{interval['low']:.2f},{interval['high']:.2f}]"

    for name, metrics in results["systems"].items():
        s = metrics["summary"]
        b = s["binary"]
        lines.append(f"{name:14s} {cell(s['macro_f1'], s['macro_f1_interval']):>18s} "
                     f"{cell(b['precision'], b['precision_interval']):>18s} "
                     f"{cell(b['recall'], b['recall_interval']):>18s} {cell(b['f1'], b['f1_interval']):>18s}")
    return "\n".join(lines)
