"""`liveinspect eval claims`: lexicon-only, classifier-only and combined, side by side.

- lexicon-only: `TextAnalyzer` without a classifier; a text is predicted as the
  kind of its gravest finding (severity, then score), else `compliant`; its
  detection score is the highest finding score (0 without findings).
- classifier-only: the classifier's most probable label; detection score
  1 - P(compliant).
- combined: `TextAnalyzer` with the classifier, read like lexicon-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from liveinspect.errors import DataError
from liveinspect.eval.classification import SystemOutputs, evaluate_system, worst_errors
from liveinspect.models.claims.labels import CLASSIFIER_LABELS, COMPLIANT
from liveinspect.pipelines.text import ClaimClassifier, TextAnalyzer
from liveinspect.schema import Finding, FindingKind, Modality, TextItem

# The lexicon knows one kind the claim labels lack: a guaranteed-result promise is scored
# as the efficacy claim it usually is.
_KIND_TO_LABEL = {FindingKind.misleading_claim.value: "false_efficacy"}


def _label_of(findings: Sequence[Finding]) -> str:
    if not findings:
        return COMPLIANT
    gravest = max(findings, key=lambda f: (f.severity.rank, f.score))
    label = _KIND_TO_LABEL.get(gravest.kind.value, gravest.kind.value)
    return label if label in CLASSIFIER_LABELS else COMPLIANT


def analyzer_outputs(name: str, analyzer: TextAnalyzer, texts: Sequence[str],
                     labels: Sequence[str], progress: bool = True) -> SystemOutputs:
    index = {label: i for i, label in enumerate(labels)}
    predictions, scores = [], []
    for text in tqdm(texts, desc=name, unit="text", disable=not progress):
        findings = analyzer.analyze([TextItem(modality=Modality.speech, text=text, source="eval")])
        predictions.append(index[_label_of(findings)])
        scores.append(max((f.score for f in findings), default=0.0))
    return SystemOutputs(name, np.asarray(predictions), detection_scores=np.asarray(scores))


def classifier_outputs(classifier: ClaimClassifier, texts: Sequence[str], labels: Sequence[str],
                       batch_size: int = 64) -> SystemOutputs:
    if list(classifier.labels) != list(labels):
        raise DataError(f"classifier labels {classifier.labels} differ from {list(labels)}")
    probabilities = np.concatenate([np.asarray(classifier.predict_proba(list(texts[i:i + batch_size])))
                                    for i in range(0, len(texts), batch_size)])
    compliant = list(labels).index(COMPLIANT)
    return SystemOutputs("classifier-only", probabilities.argmax(axis=1), probabilities=probabilities,
                         detection_scores=1.0 - probabilities[:, compliant])


def read_labelled_texts(path: str | Path, text_column: str = "text",
                        label_column: str = "label") -> tuple[list[str], list[int]]:
    from liveinspect.datasets import label_ids, load_local_dataset

    dataset = load_local_dataset(path)
    if text_column not in dataset.column_names:
        raise DataError(f"{path} has no {text_column!r} column (columns: {dataset.column_names})")
    y, _ = label_ids(dataset, label_column, CLASSIFIER_LABELS)
    return [str(t) for t in dataset[text_column]], y


def evaluate_claims(texts: Sequence[str], y_true: Sequence[int], classifier: ClaimClassifier | None, *,
                    threshold: float = 0.5, n_resamples: int = 1000, seed: int = 0,
                    progress: bool = True) -> dict:
    """Metrics of every system (see the module docstring) and their worst errors."""
    labels = list(CLASSIFIER_LABELS)
    systems = [analyzer_outputs("lexicon-only", TextAnalyzer(), texts, labels, progress)]
    if classifier is not None:
        systems.append(classifier_outputs(classifier, texts, labels))
        combined = TextAnalyzer(classifier=classifier, classifier_threshold=threshold)
        systems.append(analyzer_outputs("combined", combined, texts, labels, progress))
    results = {"task": "claims", "labels": labels, "rows": len(texts),
               "classifier": None if classifier is None else {"name": classifier.name,
                                                              "version": classifier.version},
               "classifier_threshold": threshold, "systems": {}}
    for outputs in systems:
        metrics = evaluate_system(outputs, y_true, labels, negative_label=COMPLIANT,
                                  n_resamples=n_resamples, seed=seed)
        metrics["worst_errors"] = worst_errors(texts, y_true, outputs, labels)
        results["systems"][outputs.name] = metrics
    return results
