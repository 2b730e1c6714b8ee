"""The shape of `aigc_labels.yaml`: explicit AI-content label phrases and disclosure thresholds.

`load_label_policy` reads the shipped file or a user's own; until `Policy`
loads this file with the others, analyzers call it themselves.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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


def default_label_policy_path() -> Path:
    return Path(str(resources.files("liveinspect.policy").joinpath("aigc_labels.yaml")))


def parse_label_policy(raw: bytes | str, where: str = "aigc_labels.yaml") -> LabelPolicy:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise PolicyError(f"{where}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return LabelPolicy.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"field {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                             for e in error.errors())
        raise PolicyError(f"{where}: {problems}") from error


def load_label_policy(path: str | Path | None = None) -> LabelPolicy:
    """The label policy in `path`, or the shipped one (parsed once per process)."""
    if path is None:
        return _shipped()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"{path}: cannot read label policy: {error.strerror or error}") from error
    return parse_label_policy(raw, str(path))


@lru_cache(maxsize=1)
def _shipped() -> LabelPolicy:
    path = default_label_policy_path()
    return parse_label_policy(path.read_bytes(), str(path))
