"""Prompt sets for zero-shot frame classification, read from policy data.

`scene_prompts.yaml` holds Article 20's scenes, props and dress plus the
harmless background classes; the negative list adds one class per category
from its `image_prompts` (zh and en). Every class knows which finding it
raises (kind, and category for negative-list classes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from liveinspect.errors import PolicyError
from liveinspect.policy import Policy
from liveinspect.policy.scenes import ScenePrompts
from liveinspect.schema import FindingKind


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


def _languages(prompts: ScenePrompts, languages: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for language in languages for p in getattr(prompts, language))


def load_prompt_set(path: str | Path | None = None, *, policy: Policy | None = None,
                    languages: tuple[str, ...] = ("en", "zh")) -> PromptSet:
    """The policy's scene and background classes plus its negative-list image prompts.

    `path` replaces the policy's `scene_prompts.yaml` (as `load_policy(scene_prompts=...)` does).
    `languages` picks which prompts are used: English-only CLIPs should get ("en",),
    multilingual ones both.
    """
    from liveinspect.policy import load_policy

    unknown = [language for language in languages if language not in ("en", "zh")]
    if unknown or not languages:
        raise PolicyError(f"prompt languages are 'en' and 'zh', got {languages}")
    if path is not None:
        policy = load_policy(scene_prompts=path) if policy is None else policy.replaced(scene_prompts=path)
    policy = policy or load_policy()
    data, where = policy.scene_prompts, policy.paths["scene_prompts"]
    classes = [PromptClass(b.id, _languages(b.prompts, languages), None) for b in data.background]
    classes += [PromptClass(s.id, _languages(s.prompts, languages), s.kind) for s in data.scenes]
    by_language = {language: policy.image_prompts(language) for language in languages}
    for category in policy.categories:
        prompts = tuple(p for language in languages for p in by_language[language][category.id])
        if prompts:
            classes.append(PromptClass(f"negative_list:{category.id}", prompts,
                                       FindingKind.negative_list_product, category.id))
    ids = [c.id for c in classes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"{where}: duplicate prompt class ids {duplicates}")
    empty = [c.id for c in classes if not c.prompts]
    if empty:
        raise PolicyError(f"{where}: classes without prompts in {languages}: {empty}")
    return PromptSet(classes, data.threshold, data.margin)
