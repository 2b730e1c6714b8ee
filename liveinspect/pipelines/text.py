"""The text analyzer: claims and negative-list products in transcripts, OCR, titles, profiles.

Lexicon matching over normalized text always runs. An optional
`ClaimClassifier` adds what the lexicon misses: a sentence the classifier
flags above the threshold with no lexicon hit of that kind becomes a
finding of its own, and a lexicon hit the classifier agrees with gets a
higher score. Findings point at the original text (character span), its
time (narrowed to the spoken words when word timings exist) and its frame
and box (OCR).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from liveinspect.errors import LiveInspectError
from liveinspect.models.claims.labels import CLASSIFIER_LABELS, COMPLIANT
from liveinspect.pipelines.options import option
from liveinspect.policy import Policy, load_policy
from liveinspect.schema import Evidence, Finding, FindingKind, Modality, TextItem, TextSpan
from liveinspect.text.lexicon import LexiconMatch, LexiconMatcher, collapse_overlaps
from liveinspect.text.spans import split_sentences, time_of_span, word_char_spans


_MESSAGES = {
    FindingKind.absolute_term: "Uses the absolute term “{x}”, which the Advertising Law bans in advertising.",
    FindingKind.false_efficacy: "Claims a medical or efficacy effect (“{x}”) that ordinary "
                                "goods may not claim.",
    FindingKind.false_price: "Makes a false price or scarcity claim: “{x}”.",
    FindingKind.fake_data: "Boasts sales or audience figures (“{x}”) that may be fabricated.",
    FindingKind.misleading_claim: "Promises guaranteed results or returns (“{x}”), a misleading claim.",
    FindingKind.offplatform_lure: "Lures viewers to an off-platform contact or private deal: “{x}”.",
}


@runtime_checkable
class ClaimClassifier(Protocol):
    """A sentence classifier over `CLASSIFIER_LABELS` (or a subset including 'compliant').

    `predict_proba(texts)` returns an array of shape (len(texts), len(labels))
    whose rows are probabilities.
    """

    labels: list[str]
    name: str
    version: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class TextOptions:
    """How texts are judged (shared by scan, demo, text and models)."""

    lexicon_only: bool = option(False, flag="--lexicon-only",
                                help="text findings from the policy lexicon alone, without the claim "
                                     "classifier")
    claim_model: str | None = option(None, flag="--claim-model", weights=True,
                                     help="claim classifier folder (n-gram checkpoint or transformers "
                                          "model; default: the shipped n-gram model)")
    threshold: float = 0.5  # a classifier probability at or above this is a claim


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _agreeing_score(lexicon_score: float, probability: float) -> float:
    # Two independent signals: the chance both are wrong is the product of their errors.
    return 1.0 - (1.0 - lexicon_score) * (1.0 - probability)


class TextAnalyzer:
    """Findings in text items; see the module docstring."""

    name = "text"

    def __init__(self, policy: Policy | None = None, classifier: ClaimClassifier | None = None,
                 classifier_threshold: float = 0.5, *, batch_size: int = 64) -> None:
        if policy is None:
            policy = load_policy()
        if not 0.0 < classifier_threshold <= 1.0:
            raise LiveInspectError(f"classifier_threshold must be in (0, 1], got {classifier_threshold}")
        if classifier is not None:
            unknown = [label for label in classifier.labels if label not in CLASSIFIER_LABELS]
            if unknown:
                raise LiveInspectError(f"classifier {classifier.name!r} has unknown labels {unknown}; "
                                       f"expected a subset of {CLASSIFIER_LABELS}")
        self.policy = policy
        self.classifier = classifier
        self.classifier_threshold = classifier_threshold
        self.batch_size = batch_size
        self.matcher = LexiconMatcher.from_policy(policy)

    @classmethod
    def from_options(cls, options: TextOptions, *, policy: Policy) -> "TextAnalyzer":
        """The lexicon plus, unless `lexicon_only`, the classifier in `claim_model` (default: the
        shipped n-gram model)."""
        if options.lexicon_only:
            return cls(policy=policy, classifier_threshold=options.threshold)
        from liveinspect.models.claims import load_claim_classifier, load_default_claim_classifier

        classifier = load_claim_classifier(options.claim_model) if options.claim_model \
            else load_default_claim_classifier()
        return cls(policy=policy, classifier=classifier, classifier_threshold=options.threshold)

    @property
    def model_name(self) -> str:
        return "lexicon" if self.classifier is None else f"lexicon+{self.classifier.name}"

    @property
    def model_version(self) -> str:
        if self.classifier is None:
            return self.policy.version
        return f"{self.policy.version}+{self.classifier.version}"

    def analyze_text(self, text: str, modality: Modality = Modality.title) -> list[Finding]:
        return self.analyze([TextItem(modality=modality, text=text, source="text")])

    def analyze(self, items: Sequence[TextItem]) -> list[Finding]:
        """Findings for every item, in item order, then by position in the text; graded by the
        policy (articles, severity, action) so the result stands on its own."""
        return [self.policy.grade(finding) for finding in self.observe(items)]

    def observe(self, items: Sequence[TextItem]) -> list[Finding]:
        """What `analyze` finds, before grading: the inspector grades once, for every analyzer."""
        return [finding for item_findings in self.observe_each(items) for finding in item_findings]

    def observe_each(self, items: Sequence[TextItem]) -> list[list[Finding]]:
        """`observe`, one list per item (one classifier batch over all of them)."""
        items = list(items)
        per_item = [collapse_overlaps(self.matcher.match(item.text))
                    for item in tqdm(items, desc="text", unit="item", disable=len(items) < 2000)]
        findings_per_item = [[self._lexicon_finding(item, m) for m in matches]
                             for item, matches in zip(items, per_item, strict=True)]
        if self.classifier is not None:
            self._combine_with_classifier(items, findings_per_item)
        return [sorted(item_findings, key=lambda f: (f.evidence.text.start, f.evidence.text.end,
                                                     f.kind.value))
                for item_findings in findings_per_item]

    # --- building findings -------------------------------------------

    def _finding(self, item: TextItem, *, kind: FindingKind, start: int, end: int,
                 score: float, model: str, model_version: str, message: str,
                 matched_term: str | None = None, category: str | None = None) -> Finding:
        t_start, t_end = item.t_start, item.t_end
        if item.words:
            spoken = time_of_span(start, end, word_char_spans(item.text, item.words))
            if spoken is not None:
                t_start, t_end = spoken
        return Finding(
            kind=kind, modality=item.modality, t_start=t_start, t_end=t_end,
            evidence=Evidence(text=TextSpan(text=item.text, start=start, end=end),
                              frame_index=item.frame_index, box=item.box,
                              matched_term=matched_term, category=category),
            score=round(float(score), 4), model=model, model_version=model_version, message=message)

    def _lexicon_finding(self, item: TextItem, match: LexiconMatch) -> Finding:
        quoted = _shorten(item.text[match.start:match.end])
        if match.kind is FindingKind.negative_list_product and match.category:
            name = self.policy.category(match.category).name
            message = (f"Mentions {name.en} ({name.zh}): “{quoted}”, which may not be "
                       f"sold or promoted in a live stream.")
        else:
            message = _MESSAGES.get(match.kind, "Matches the {k} lexicon: “{x}”.").format(
                x=quoted, k=match.kind.value)
        return self._finding(item, kind=match.kind, start=match.start, end=match.end,
                             score=match.score, model="lexicon", model_version=self.policy.version,
                             message=message, matched_term=match.term, category=match.category)

    # --- the classifier -------------------------------------------------

    def _predict(self, sentences: list[str]) -> np.ndarray:
        labels = self.classifier.labels
        rows = []
        for start in range(0, len(sentences), self.batch_size):
            batch = sentences[start:start + self.batch_size]
            probabilities = np.asarray(self.classifier.predict_proba(batch), dtype=np.float64)
            if probabilities.shape != (len(batch), len(labels)):
                raise LiveInspectError(
                    f"classifier {self.classifier.name!r} returned shape {probabilities.shape}, "
                    f"expected {(len(batch), len(labels))}")
            rows.append(probabilities)
        return np.concatenate(rows) if rows else np.zeros((0, len(labels)))

    def _combine_with_classifier(self, items: list[TextItem],
                                 findings_per_item: list[list[Finding]]) -> None:
        sentence_spans = [split_sentences(item.text) for item in items]
        flat = [(i, s, e) for i, spans in enumerate(sentence_spans) for s, e in spans]
        probabilities = self._predict([items[i].text[s:e] for i, s, e in flat])
        # (item, finding index) -> the highest agreeing probability: a hit that spans
        # two sentences is boosted once, not twice.
        agreement: dict[tuple[int, int], float] = {}
        for (index, start, end), row in zip(flat, probabilities, strict=True):
            lexicon_findings = list(enumerate(findings_per_item[index]))
            for label, probability in zip(self.classifier.labels, row, strict=True):
                if label == COMPLIANT or probability < self.classifier_threshold:
                    continue
                kind = FindingKind(label)
                agreeing = [n for n, f in lexicon_findings
                            if f.kind is kind and f.evidence.text.start < end
                            and f.evidence.text.end > start]
                for n in agreeing:
                    agreement[index, n] = max(agreement.get((index, n), 0.0), float(probability))
                if not agreeing:
                    findings_per_item[index].append(
                        self._classifier_finding(items[index], kind, start, end, float(probability)))
        for (index, n), probability in agreement.items():
            findings_per_item[index][n] = self._boosted(findings_per_item[index][n], probability)

    def _classifier_finding(self, item: TextItem, kind: FindingKind, start: int, end: int,
                            probability: float) -> Finding:
        name = self.classifier.name
        return self._finding(
            item, kind=kind, start=start, end=end, score=probability, model=name,
            model_version=self.classifier.version,
            message=(f"The {name} classifier rates this sentence as {kind.value} "
                     f"({probability:.2f}): “{_shorten(item.text[start:end])}”."))

    def _boosted(self, finding: Finding, probability: float) -> Finding:
        score = round(_agreeing_score(finding.score, probability), 4)
        if score <= finding.score:
            return finding
        return finding.model_copy(update={
            "score": score, "model": f"lexicon+{self.classifier.name}",
            "model_version": f"{finding.model_version}+{self.classifier.version}"})


def _parse_line(number: int, line: str, modality: Modality) -> TextItem:
    text = line.rstrip("\r\n")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            try:
                return TextItem.model_validate(data)
            except ValueError as error:
                raise LiveInspectError(f"line {number}: not a valid TextItem: {error}") from error
    return TextItem(modality=modality, text=text, source="cli")


def run_text_command(lines: Iterable[str], policy: Policy | None = None, *,
                     analyzer: TextAnalyzer | None = None,
                     modality: Modality | str = Modality.title) -> Iterator[dict]:
    """For `liveinspect text`: one JSON-ready dict per input line.

    A line is plain text (checked as `modality`, a title by default) or a JSON TextItem object
    (`{"modality": "speech", "text": ..., "t_start": ...}`). Each result has
    the line number, the text, its findings and the policy's verdict on them.
    """
    analyzer = analyzer or TextAnalyzer(policy=policy)
    for number, line in enumerate(lines, start=1):
        item = _parse_line(number, line, Modality(modality))
        findings = analyzer.analyze([item])
        yield {"line": number, "text": item.text, "modality": item.modality.value,
               "findings": [f.model_dump(mode="json") for f in findings],
               "verdict": analyzer.policy.verdict(findings).model_dump(mode="json")}


__all__ = ["CLASSIFIER_LABELS", "ClaimClassifier", "TextAnalyzer", "TextOptions", "run_text_command"]
