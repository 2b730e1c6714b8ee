"""The shape of the policy files, validated with pydantic.

One model per YAML file. Models forbid unknown keys so a typo in a user's
file is reported instead of silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from liveinspect.errors import PolicyError
from liveinspect.policy.regex import compile_bounded
from liveinspect.schema import Action, FindingKind, Severity


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Data):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Article(_Data):
    ref: str = Field(pattern=r"^[A-Za-z][\w.-]*$")
    source: str
    number: int = Field(ge=1)
    summary: Bilingual


class KindRule(_Data):
    articles: list[str]
    severity: Severity


class ArticlesFile(_Data):
    version: int = 1
    articles: list[Article] = Field(min_length=1)
    kinds: dict[FindingKind, KindRule]

    @model_validator(mode="after")
    def _consistent(self) -> "ArticlesFile":
        refs = [a.ref for a in self.articles]
        duplicates = sorted({r for r in refs if refs.count(r) > 1})
        if duplicates:
            raise ValueError(f"duplicate article refs: {duplicates}")
        missing_kinds = [k.value for k in FindingKind if k not in self.kinds]
        if missing_kinds:
            raise ValueError(f"kinds: no rule for finding kinds {missing_kinds}")
        for kind, rule in self.kinds.items():
            unknown = [r for r in rule.articles if r not in refs]
            if unknown:
                raise ValueError(f"kinds.{kind.value}.articles: unknown article refs {unknown}")
        return self


class Term(_Data):
    """A literal term; `exclude` lists near misses that contain it."""

    term: str = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    score: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _exclusions_contain_term(self) -> "Term":
        for near_miss in self.exclude:
            if self.term.casefold() not in near_miss.casefold():
                raise ValueError(f"exclusion {near_miss!r} does not contain the term {self.term!r}")
        return self


def _as_term(value: object) -> object:
    return {"term": value} if isinstance(value, str) else value


def _compiles(pattern: str) -> str:
    # Compiled and run against hostile probes now, so a pattern that would
    # backtrack for minutes on a long run of spaces never reaches a scan.
    try:
        compile_bounded(pattern)
    except PolicyError as error:
        raise ValueError(str(error)) from error
    return pattern


class Pattern(_Data):
    """A regular expression over normalized text."""

    pattern: str = Field(min_length=1)
    name: str = ""
    exclude: list[str] = Field(default_factory=list)
    score: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _compiles(value)


class Variant(_Data):
    """A homophone or look-alike rewritten before matching (regex -> replacement)."""

    pattern: str = Field(min_length=1)
    replace: str
    note: str = ""

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _compiles(value)


class Lexicon(_Data):
    id: str = Field(min_length=1)
    kind: FindingKind
    score: float = Field(default=0.85, ge=0.0, le=1.0)
    terms: list[Term] = Field(default_factory=list)
    patterns: list[Pattern] = Field(default_factory=list)

    @field_validator("terms", mode="before")
    @classmethod
    def _terms(cls, value: object) -> object:
        return [_as_term(v) for v in value] if isinstance(value, list) else value


class ClaimsFile(_Data):
    version: int = 1
    emoji: dict[str, str] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=list)
    lexicons: list[Lexicon] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "ClaimsFile":
        ids = [lex.id for lex in self.lexicons]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate lexicon ids: {duplicates}")
        if any(lex.kind is FindingKind.negative_list_product for lex in self.lexicons):
            raise ValueError("negative_list_product terms belong in negative_list.yaml")
        return self


class TermsByLanguage(_Data):
    zh: list[Term] = Field(default_factory=list)
    en: list[Term] = Field(default_factory=list)

    @field_validator("zh", "en", mode="before")
    @classmethod
    def _terms(cls, value: object) -> object:
        return [_as_term(v) for v in value] if isinstance(value, list) else value


class ImagePrompts(_Data):
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)


class Category(_Data):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Bilingual
    legal_basis: list[str] = Field(min_length=1)
    articles: list[str] = Field(default_factory=list)
    severity: Severity
    keywords: TermsByLanguage
    synonyms: list[Term] = Field(default_factory=list)
    evasions: list[Term] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    image_prompts: ImagePrompts

    @field_validator("synonyms", "evasions", mode="before")
    @classmethod
    def _terms(cls, value: object) -> object:
        return [_as_term(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _has_keywords(self) -> "Category":
        if not (self.keywords.zh or self.keywords.en):
            raise ValueError("keywords: a category needs at least one zh or en keyword")
        return self


class TermScores(_Data):
    keyword_score: float = Field(default=0.9, ge=0.0, le=1.0)
    synonym_score: float = Field(default=0.85, ge=0.0, le=1.0)
    evasion_score: float = Field(default=0.7, ge=0.0, le=1.0)


class NegativeListFile(_Data):
    version: int = 1
    defaults: TermScores = Field(default_factory=TermScores)
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "NegativeListFile":
        ids = [c.id for c in self.categories]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate category ids: {duplicates}")
        return self


class Escalation(_Data):
    severity: Severity
    count: int = Field(ge=1)
    action: Action


class ConfidenceBand(_Data):
    below: float = Field(gt=0.0, le=1.0)
    shift: int = Field(ge=-4, le=4)


class LadderFile(_Data):
    version: int = 1
    actions: dict[Severity, Action]
    escalation: list[Escalation] = Field(default_factory=list)
    confidence: list[ConfidenceBand] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete_and_monotone(self) -> "LadderFile":
        missing = [s.value for s in Severity if s not in self.actions]
        if missing:
            raise ValueError(f"actions: no action for severities {missing}")
        ranks = [self.actions[s].rank for s in Severity]
        if ranks != sorted(ranks):
            raise ValueError("actions: a graver severity may not get a milder action")
        return self
