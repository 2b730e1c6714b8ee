"""Prompt sets for zero-shot frame classification, read from policy data.

`scene_prompts.yaml` holds Article 20's scenes, props and dress plus the
harmless background classes; the negative list adds one class per category
from its `image_prompts` (zh and en). Every class knows which finding it
raises (kind, and category for negative-list classes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from liveinspect.errors import PolicyError
from liveinspect.schema import FindingKind


class _Prompts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class _Background(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    prompts: _Prompts


class _Scene(_Background):
    kind: FindingKind


class ScenePromptsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    margin: float = Field(default=0.1, ge=0.0, le=1.0)
    background: list[_Background] = Field(min_length=1)
    scenes: list[_Scene] = Field(default_factory=list)


@dataclass(frozen=True)
class PromptClass:
    id: str
    prompts: tuple[str, ...]
    kind: FindingKind | None  # None for background classes
    category: str | None = None  # negative-list category id


@dataclass
class PromptSet:
    classes: list[PromptClass]
    threshold: float
    margin: float
    by_id: dict[str, PromptClass] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {c.id: c for c in self.classes}

    def as_mapping(self) -> dict[str, list[str]]:
        return {c.id: list(c.prompts) for c in self.classes}


def default_scene_prompts_path() -> Path:
    return Path(str(resources.files("liveinspect.policy").joinpath("scene_prompts.yaml")))


def _languages(prompts: _Prompts, languages: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for language in languages for p in getattr(prompts, language))


def load_prompt_set(path: str | Path | None = None, *, policy: Any = None,
                    languages: tuple[str, ...] = ("en", "zh")) -> PromptSet:
    """Scene and background classes from `path`, plus the policy's negative-list image prompts.

    `languages` picks which prompts are used: English-only CLIPs should get ("en",),
    multilingual ones both.
    """
    unknown = [language for language in languages if language not in ("en", "zh")]
    if unknown or not languages:
        raise PolicyError(f"prompt languages are 'en' and 'zh', got {languages}")
    path = Path(path) if path is not None else default_scene_prompts_path()
    try:
        data = ScenePromptsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise PolicyError(f"{path}: cannot read scene prompts: {error}") from error
    except (yaml.YAMLError, ValidationError) as error:
        raise PolicyError(f"{path}: invalid scene prompts: {error}") from error
    classes = [PromptClass(b.id, _languages(b.prompts, languages), None) for b in data.background]
    classes += [PromptClass(s.id, _languages(s.prompts, languages), s.kind) for s in data.scenes]
    if policy is not None:
        by_language = {language: policy.image_prompts(language) for language in languages}
        for category in policy.categories:
            prompts = tuple(p for language in languages for p in by_language[language][category.id])
            if prompts:
                classes.append(PromptClass(f"negative_list:{category.id}", prompts,
                                           FindingKind.negative_list_product, category.id))
    ids = [c.id for c in classes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"{path}: duplicate prompt class ids {duplicates}")
    empty = [c.id for c in classes if not c.prompts]
    if empty:
        raise PolicyError(f"{path}: classes without prompts in {languages}: {empty}")
    return PromptSet(classes, data.threshold, data.margin)
