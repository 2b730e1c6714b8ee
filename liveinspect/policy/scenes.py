"""`scene_prompts.yaml`: zero-shot image classes for what Article 20 names besides text (sets, props,
product display, presenters' dress) and the harmless background classes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from liveinspect.schema import FindingKind


class ScenePrompts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class BackgroundClass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    prompts: ScenePrompts


class SceneClass(BackgroundClass):
    kind: FindingKind


class ScenePromptsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    margin: float = Field(default=0.1, ge=0.0, le=1.0)
    background: list[BackgroundClass] = Field(min_length=1)
    scenes: list[SceneClass] = Field(default_factory=list)
