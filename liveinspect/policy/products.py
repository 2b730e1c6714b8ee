"""product_rules.yaml: claim legality by product category, validated with pydantic.

The file says which efficacy topics exist (and the words that name them),
what each product category may claim (`efficacy`: "none", or "approved" =
only the topics its approved functions or indications name), which topics
it may never claim, which wording no product may use, which notices are
lawful, which categories may not be sold live, and the classifier
thresholds per kind. Matching the words against a sentence is the text
analyzer's job (`liveinspect.pipelines.product_context`); this module only
holds and checks the data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from liveinspect.policy.models import Bilingual, Term, _as_term, _Data
from liveinspect.schema import FindingKind, ProductCategory


class Topic(_Data):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Bilingual
    terms: list[Term] = Field(min_length=1)

    @field_validator("terms", mode="before")
    @classmethod
    def _terms(cls, value: object) -> object:
        return [_as_term(v) for v in value] if isinstance(value, list) else value


class NeverRule(Topic):
    """Wording no product may use, whatever its category or registration."""


class CategoryRule(_Data):
    id: ProductCategory
    name: Bilingual
    efficacy: Literal["none", "approved"]
    requires_registration: bool = False
    live_sale: bool = True
    negative_list_category: str | None = None  # the negative_list.yaml category of a live-sale ban
    forbidden_topics: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ban_names_its_category(self) -> "CategoryRule":
        if not self.live_sale and not self.negative_list_category:
            raise ValueError(f"{self.id.value}: a category that may not be sold live names its "
                             "negative_list_category")
        return self


class ProductRulesFile(_Data):
    version: int = 1
    thresholds: dict[str, float] = Field(default_factory=lambda: {"default": 0.5})
    topics: list[Topic] = Field(min_length=1)
    never: list[NeverRule] = Field(default_factory=list)
    notices: list[str] = Field(default_factory=list)
    categories: list[CategoryRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> "ProductRulesFile":
        topic_ids = [t.id for t in self.topics]
        duplicates = sorted({t for t in topic_ids if topic_ids.count(t) > 1})
        if duplicates:
            raise ValueError(f"duplicate topic ids: {duplicates}")
        missing = [c.value for c in ProductCategory if c not in {rule.id for rule in self.categories}]
        if missing:
            raise ValueError(f"categories: no rule for product categories {missing}")
        for rule in self.categories:
            unknown = [t for t in rule.forbidden_topics if t not in topic_ids]
            if unknown:
                raise ValueError(f"categories.{rule.id.value}.forbidden_topics: unknown topics {unknown}")
        for kind, value in self.thresholds.items():
            if kind != "default" and kind not in FindingKind.__members__:
                raise ValueError(f"thresholds: {kind!r} is not a finding kind")
            if not 0.0 < value <= 1.0:
                raise ValueError(f"thresholds.{kind}: {value} is not in (0, 1]")
        return self

    def rule(self, category: ProductCategory | str) -> CategoryRule:
        category = ProductCategory(category)
        return next(rule for rule in self.categories if rule.id is category)

    def threshold(self, kind: FindingKind | str) -> float:
        kind = FindingKind(kind).value
        return self.thresholds.get(kind, self.thresholds.get("default", 0.5))
