"""`qr_rules.yaml`: which decoded QR/barcode payloads are off-platform contact, payment or shop links
(Art. 9 jump services, Art. 10 private deals) and which are harmless in-platform links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from liveinspect.errors import PolicyError
from liveinspect.policy.regex import BoundedPattern, compile_bounded
from liveinspect.schema import FindingKind, Severity



class _Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str


class PayloadRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: FindingKind
    label: _Label
    score: float = Field(ge=0.0, le=1.0)
    severity: Severity | None = None
    hosts: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _supported_kind(cls, kind: FindingKind) -> FindingKind:
        if kind not in (FindingKind.offplatform_lure, FindingKind.qr_code):
            raise ValueError("a QR rule's kind is offplatform_lure or qr_code")
        return kind

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        # Checked against hostile probes like the claim patterns, so a user's --policy rule that
        # backtracks never reaches a scan; every payload search is timed as well.
        for pattern in patterns:
            try:
                compile_bounded(pattern, flags=re.IGNORECASE)
            except PolicyError as error:
                raise ValueError(str(error)) from error
        return patterns

    @cached_property
    def _regexes(self) -> list[BoundedPattern]:
        return [compile_bounded(p, flags=re.IGNORECASE, probe=False, name=f"qr rule {self.id}")
                for p in self.patterns]

    def matches(self, payload: str, host: str | None) -> bool:
        if host and any(host == h or host.endswith("." + h) for h in self.hosts):
            return True
        return any(regex.search(payload) for regex in self._regexes)


@dataclass(frozen=True)
class PayloadClass:
    """What a payload was judged to be; `rule` is None when no rule matched."""

    rule: str | None
    kind: FindingKind
    label: str
    score: float
    severity: Severity | None


class QrRulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    unmatched_severity: Severity = Severity.low
    rules: list[PayloadRule] = Field(min_length=1)

    def classify(self, payload: str) -> PayloadClass:
        payload = payload.strip()
        host = _host_of(payload)
        for rule in self.rules:
            if rule.matches(payload, host):
                return PayloadClass(rule.id, rule.kind, rule.label.en, rule.score, rule.severity)
        return PayloadClass(None, FindingKind.qr_code, "unrecognised code", 0.5,
                            self.unmatched_severity)


def _host_of(payload: str) -> str | None:
    text = payload if "://" in payload else ("http://" + payload if payload.startswith("www.") else "")
    if not text:
        return None
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None
