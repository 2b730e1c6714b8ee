"""The shape of `aigc_labels.yaml`: explicit AI-content label phrases and disclosure thresholds.

`Policy.aigc_labels` holds it (the file is one of the policy's, in its
version hash and replaceable with `--policy DIR`); `load_label_policy` reads
a single one.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from liveinspect.errors import PolicyError


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Medium(StrEnum):
    """What a label can disclose as synthetic."""

    voice = "voice"
    avatar = "avatar"


class LabelGroup(_Data):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    discloses: list[Medium] = Field(min_length=1)
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_phrases(self) -> "LabelGroup":
        if not self.zh and not self.en:
            raise ValueError(f"group {self.id}: no phrases (give zh and/or en)")
        if any(not phrase.strip() for phrase in [*self.zh, *self.en]):
            raise ValueError(f"group {self.id}: empty phrase")
        return self


class Negations(_Data):
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class OnscreenRule(_Data):
    min_height_ratio: float = Field(0.05, gt=0.0, lt=1.0)
    min_duration_s: float = Field(2.0, ge=0.0)


class SpokenRule(_Data):
    start_window_s: float = Field(10.0, ge=0.0)


class DisclosureThresholds(_Data):
    voice: float = Field(0.5, ge=0.0, le=1.0)
    avatar: float = Field(0.5, ge=0.0, le=1.0)
    min_voice_s: float = Field(2.0, ge=0.0)


class LabelPolicy(_Data):
    version: int = 1
    groups: list[LabelGroup] = Field(min_length=1)
    negations: Negations = Field(default_factory=Negations)
    onscreen: OnscreenRule = Field(default_factory=OnscreenRule)
    spoken: SpokenRule = Field(default_factory=SpokenRule)
    thresholds: DisclosureThresholds = Field(default_factory=DisclosureThresholds)

    @model_validator(mode="after")
    def _unique_ids(self) -> "LabelPolicy":
        ids = [g.id for g in self.groups]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate group ids: {duplicates}")
        return self

    def group(self, group_id: str) -> LabelGroup:
        for group in self.groups:
            if group.id == group_id:
                return group
        raise PolicyError(f"unknown label group {group_id!r}; known: {', '.join(g.id for g in self.groups)}")


def load_label_policy(path: str | Path | None = None) -> LabelPolicy:
    """The label policy in `path`, or the shipped one: the `aigc_labels` file of `load_policy`, read
    and validated (and cached) the way every policy file is."""
    from liveinspect.policy.loader import load_policy

    return load_policy(aigc_labels=path).aigc_labels
