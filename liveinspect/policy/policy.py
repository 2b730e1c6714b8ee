"""`Policy`: findings -> article references, severity and the recommended action."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from liveinspect.errors import PolicyError
from liveinspect.policy.models import (
    Article,
    ArticlesFile,
    Category,
    ClaimsFile,
    LadderFile,
    Lexicon,
    NegativeListFile,
    Variant,
)
from liveinspect.policy.labels import LabelPolicy
from liveinspect.policy.products import ProductRulesFile
from liveinspect.policy.qr import QrRulesFile
from liveinspect.policy.scenes import ScenePromptsFile
from liveinspect.schema import Action, Finding, FindingKind, Severity, Verdict

_SEVERITIES = list(Severity)

# A QR finding's category names the qr_rules.yaml rule that classified its payload.
QR_CATEGORY_PREFIX = "qr:"
QR_UNMATCHED = "unmatched"


class Policy:
    """The regulation as data, validated; build one with `load_policy`.

    It holds every policy file (`POLICY_FILES`) and is the one place that grades
    a finding: `grade` sets its articles, severity and action. `version` is a
    hash of all the files' bytes, so a report can say which rules produced it.
    """

    def __init__(self, *, files: Mapping[str, Any], version: str, paths: Mapping[str, Path]) -> None:
        self._articles: ArticlesFile = files["articles"]
        self._negative_list: NegativeListFile = files["negative_list"]
        self._claims: ClaimsFile = files["claims"]
        self._ladder: LadderFile = files["ladder"]
        self._qr_rules: QrRulesFile = files["qr_rules"]
        self._scene_prompts: ScenePromptsFile = files["scene_prompts"]
        self._aigc_labels: LabelPolicy = files["aigc_labels"]
        self._product_rules: ProductRulesFile = files["product_rules"]
        self.version = version
        self.paths = dict(paths)
        self._article_by_ref = {a.ref: a for a in self._articles.articles}
        self._category_by_id = {c.id: c for c in self._negative_list.categories}
        self._qr_rule_by_id = {r.id: r for r in self._qr_rules.rules}

    def replaced(self, **files: str | Path) -> "Policy":
        """This policy with some files swapped (keyword = file name, e.g. `claims=...`)."""
        from liveinspect.policy.loader import load_policy

        return load_policy(**{**self.paths, **files})

    def __repr__(self) -> str:
        return (f"Policy(version={self.version!r}, articles={len(self._article_by_ref)}, "
                f"categories={len(self._category_by_id)}, lexicons={len(self._claims.lexicons)})")

    def summary(self) -> dict:
        """What this policy holds, for `liveinspect policy`-style listings and reports."""
        return {
            "version": self.version,
            "files": {name: str(path) for name, path in self.paths.items()},
            "articles": [a.ref for a in self._articles.articles],
            "kinds": {k.value: {"articles": r.articles, "severity": r.severity.value}
                      for k, r in self._articles.kinds.items()},
            "categories": {c.id: {"name": c.name.en, "severity": c.severity.value,
                                  "terms": len(c.keywords.zh) + len(c.keywords.en)
                                  + len(c.synonyms) + len(c.evasions)}
                           for c in self._negative_list.categories},
            "lexicons": {lex.id: {"kind": lex.kind.value, "terms": len(lex.terms),
                                  "patterns": len(lex.patterns)} for lex in self._claims.lexicons},
            "actions": {s.value: a.value for s, a in self._ladder.actions.items()},
        }

    # --- articles -------------------------------------------------------

    @property
    def articles(self) -> list[Article]:
        return list(self._articles.articles)

    def article(self, ref: str) -> Article:
        """The article `ref` ('Art-18', 'AdLaw-9') with its zh/en summary."""
        try:
            return self._article_by_ref[ref]
        except KeyError:
            raise PolicyError(f"unknown article ref {ref!r}; known: "
                              f"{', '.join(self._article_by_ref)}") from None

    def articles_for(self, kind: FindingKind | str, category: str | None = None) -> list[str]:
        """Article refs a finding of `kind` cites (plus its negative-list category's, if any)."""
        kind = FindingKind(kind)
        refs = list(self._articles.kinds[kind].articles)
        if self._is_listed(kind, category):
            refs += [r for r in self._category_by_id[category].articles if r not in refs]
        return refs

    # --- severity and actions ------------------------------------------

    def _is_listed(self, kind: FindingKind, category: str | None) -> bool:
        """Whether a negative-list category (not some other analyzer's label) applies."""
        return kind is FindingKind.negative_list_product and category in self._category_by_id

    def default_severity(self, kind: FindingKind | str, category: str | None = None) -> Severity:
        kind = FindingKind(kind)
        if self._is_listed(kind, category):
            return self._category_by_id[category].severity
        return self._articles.kinds[kind].severity

    def _qr_rule_severity(self, category: str | None) -> Severity | None:
        """The severity a QR rule states (category "qr:RULE", or "qr:unmatched"), if any."""
        if not category or not category.startswith(QR_CATEGORY_PREFIX):
            return None
        rule_id = category[len(QR_CATEGORY_PREFIX):]
        if rule_id == QR_UNMATCHED:
            return self._qr_rules.unmatched_severity
        rule = self._qr_rule_by_id.get(rule_id)
        return rule.severity if rule is not None else None

    def severity_for(self, kind: FindingKind | str, score: float,
                     category: str | None = None) -> Severity:
        """The kind's (or category's) default severity, moved by the ladder's confidence bands."""
        rule_severity = self._qr_rule_severity(category)
        if rule_severity is not None:
            return rule_severity  # a QR rule that states a severity means exactly that one
        base = self.default_severity(kind, category)
        shift = next((band.shift for band in self._ladder.confidence if score < band.below), 0)
        rank = min(max(base.rank + shift, 0), len(_SEVERITIES) - 1)
        return _SEVERITIES[rank]

    def action_for(self, severity: Severity | str) -> Action:
        return self._ladder.actions[Severity(severity)]

    def grade(self, finding: Finding) -> Finding:
        """Set the finding's articles, severity and action from what the analyzer saw (kind, score,
        category). The one place findings are graded: analyzers never set these themselves."""
        category = finding.evidence.category
        finding.articles = self.articles_for(finding.kind, category)
        finding.severity = self.severity_for(finding.kind, finding.score, category)
        finding.action = self.action_for(finding.severity)
        return finding

    def verdict(self, findings: Iterable[Finding]) -> Verdict:
        """Overall severity, the recommended action (with escalation) and counts."""
        findings = list(findings)
        if not findings:
            return Verdict(severity=Severity.info, action=Action.none)
        severity = max((f.severity for f in findings), key=lambda s: s.rank)
        actions = [self.action_for(severity), *(f.action for f in findings)]
        for rule in self._ladder.escalation:
            if sum(f.severity.rank >= rule.severity.rank for f in findings) >= rule.count:
                actions.append(rule.action)
        by_article: Counter[str] = Counter()
        for finding in findings:
            by_article.update(finding.articles or self.articles_for(finding.kind,
                                                                    finding.evidence.category))
        by_kind = Counter(f.kind.value for f in findings)
        return Verdict(severity=severity, action=max(actions, key=lambda a: a.rank),
                       by_article=dict(sorted(by_article.items())),
                       by_kind=dict(sorted(by_kind.items())))

    # --- lexicons and the negative list -------------------------------

    @property
    def categories(self) -> list[Category]:
        return list(self._negative_list.categories)

    def category(self, category_id: str) -> Category:
        try:
            return self._category_by_id[category_id]
        except KeyError:
            raise PolicyError(f"unknown negative-list category {category_id!r}") from None

    def image_prompts(self, language: str = "en") -> dict[str, list[str]]:
        """Category id -> zero-shot image prompts in `language` ('en' or 'zh')."""
        if language not in ("en", "zh"):
            raise PolicyError(f"image prompts exist in 'en' and 'zh', not {language!r}")
        return {c.id: list(getattr(c.image_prompts, language)) for c in self.categories}

    @property
    def term_scores(self):
        return self._negative_list.defaults

    @property
    def qr_rules(self) -> QrRulesFile:
        return self._qr_rules

    @property
    def scene_prompts(self) -> ScenePromptsFile:
        return self._scene_prompts

    @property
    def aigc_labels(self) -> LabelPolicy:
        """Explicit AI-content label phrases and disclosure thresholds (the 2025 labeling rules)."""
        return self._aigc_labels

    @property
    def product_rules(self) -> ProductRulesFile:
        """Claim legality by product category and the classifier thresholds per kind."""
        return self._product_rules

    @property
    def lexicons(self) -> list[Lexicon]:
        return list(self._claims.lexicons)

    @property
    def emoji(self) -> dict[str, str]:
        return dict(self._claims.emoji)

    @property
    def variants(self) -> list[Variant]:
        return list(self._claims.variants)
