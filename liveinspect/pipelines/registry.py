"""Named analyzers and the default inspector, so CLI, HTTP service and tests build the same thing."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import Analyzer
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.policy import Policy, load_policy
from liveinspect.schema import AnalyzerStatus

# name -> "module:Class"; each is constructed with no arguments and reports
# unavailable_reason() itself when its weights are missing.
ANALYZERS: dict[str, str] = {
    "speech": "liveinspect.pipelines.speech:SpeechAnalyzer",
    "frames": "liveinspect.pipelines.frames:FrameAnalyzer",
}

# Detectors the Measures call for that this release does not ship yet; the
# report lists them as skipped so nobody mistakes silence for a clean result.
NOT_YET_SHIPPED: dict[str, str] = {
    "voice": "synthetic-voice detector (Art. 13, 25) is not part of this release",
    "avatar": "synthetic-avatar detector (Art. 13, 25) is not part of this release",
}


def _construct(path: str, settings: dict[str, Any], policy: Policy | None) -> Analyzer:
    module_name, class_name = path.split(":")
    cls: Callable[..., Analyzer] = getattr(importlib.import_module(module_name), class_name)
    if policy is not None and "policy" in inspect.signature(cls).parameters:
        settings = {"policy": policy, **settings}  # the scan's policy, not the shipped default
    return cls(**settings)


def build_analyzers(names: list[str] | None = None, settings: dict[str, dict[str, Any]] | None = None,
                    policy: Policy | None = None) -> tuple[list[Analyzer], list[AnalyzerStatus]]:
    """Construct the named analyzers (default: all); those that cannot be built come back skipped.

    `settings` maps an analyzer name to its constructor's keyword arguments,
    e.g. `{"frames": {"clip_model": "ViT-B-32", "clip_checkpoint": "..."}}`;
    analyzers that take a `policy` get `policy`.
    """
    settings = settings or {}
    names = list(ANALYZERS) + list(NOT_YET_SHIPPED) if names is None else names
    built: list[Analyzer] = []
    skipped: list[AnalyzerStatus] = []
    for name in names:
        if name in NOT_YET_SHIPPED:
            skipped.append(AnalyzerStatus(name=name, state="skipped", reason=NOT_YET_SHIPPED[name]))
            continue
        if name not in ANALYZERS:
            known = ", ".join([*ANALYZERS, *NOT_YET_SHIPPED])
            raise LiveInspectError(f"unknown analyzer {name!r}; known: {known}")
        try:
            built.append(_construct(ANALYZERS[name], settings.get(name, {}), policy))
        except (LiveInspectError, ImportError, OSError) as error:
            skipped.append(AnalyzerStatus(name=name, state="skipped",
                                          reason=f"{type(error).__name__}: {error}"))
    return built, skipped


def build_text_analyzer(policy: Policy, claim_model: str | Path | None = None, *,
                        lexicon_only: bool = False) -> TextAnalyzer:
    """Lexicon plus a claim classifier: the shipped n-gram model, or the one in `claim_model`."""
    if lexicon_only:
        return TextAnalyzer(policy=policy)
    from liveinspect.models.claims import load_claim_classifier, load_default_claim_classifier

    classifier = load_claim_classifier(claim_model) if claim_model else load_default_claim_classifier()
    return TextAnalyzer(policy=policy, classifier=classifier)


def build_inspector(names: list[str] | None = None, *, options: ScanOptions | None = None,
                    policy: Policy | None = None, text_analyzer: TextAnalyzer | None = None,
                    settings: dict[str, dict[str, Any]] | None = None) -> Inspector:
    policy = policy or load_policy()
    text_analyzer = text_analyzer or build_text_analyzer(policy)
    analyzers, skipped = build_analyzers(names, settings, policy)
    return Inspector(analyzers, text_analyzer=text_analyzer, policy=policy, skipped=skipped,
                     options=options)
