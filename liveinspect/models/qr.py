"""QR codes and barcodes in frames, and what their payloads lead to.

Detection and decoding are OpenCV's (`QRCodeDetectorAruco`, and the 1-D
`barcode.BarcodeDetector` where the build has it). Classification is data:
`policy/qr_rules.yaml` says which payloads are off-platform contact, payment
or shop links (Art. 9 jump services, Art. 10 private deals) and which are
harmless in-platform links.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from liveinspect.errors import LiveInspectError, PolicyError
from liveinspect.schema import FindingKind, Severity

# ---------------------------------------------------------------- rules as data


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
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
        return patterns

    @cached_property
    def _regexes(self) -> list[re.Pattern]:
        return [re.compile(p, re.IGNORECASE) for p in self.patterns]

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


class QrRules(BaseModel):
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


def default_qr_rules_path() -> Path:
    return Path(str(resources.files("liveinspect.policy").joinpath("qr_rules.yaml")))


def load_qr_rules(path: str | Path | None = None) -> QrRules:
    """The payload rules from `path` (default: the shipped `qr_rules.yaml`)."""
    path = Path(path) if path is not None else default_qr_rules_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PolicyError(f"{path}: cannot read QR rules: {error}") from error
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {error}") from error
    try:
        return QrRules.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise PolicyError(f"{path}: {problems}") from error


# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class DecodedCode:
    payload: str
    symbology: str  # "QR_CODE", "EAN_13", ...
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


def opencv_version() -> str:
    try:
        return importlib.metadata.version("opencv-python-headless")
    except importlib.metadata.PackageNotFoundError:
        import cv2

        return cv2.__version__


class CodeReader:
    """Finds and decodes QR codes (and 1-D barcodes when OpenCV has them) in RGB frames."""

    def __init__(self, *, barcodes: bool = True) -> None:
        import cv2

        self._cv2 = cv2
        self._qr = cv2.QRCodeDetectorAruco() if hasattr(cv2, "QRCodeDetectorAruco") \
            else cv2.QRCodeDetector()
        self._barcode = cv2.barcode.BarcodeDetector() \
            if barcodes and hasattr(cv2, "barcode") else None
        self.version = f"opencv-{opencv_version()}"

    def read(self, image: np.ndarray) -> list[DecodedCode]:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise LiveInspectError(f"expected an RGB uint8 image, got {getattr(image, 'shape', image)}")
        grey = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        found: list[DecodedCode] = []
        ok, payloads, corners, _ = self._qr.detectAndDecodeMulti(grey)
        if ok and corners is not None:
            for payload, points in zip(payloads, corners, strict=True):
                if payload:  # detected but unreadable codes carry no evidence
                    found.append(DecodedCode(payload, "QR_CODE", _bounds(points)))
        if self._barcode is not None:
            ok, payloads, types, corners = self._barcode.detectAndDecodeWithType(grey)
            if ok and corners is not None:
                for payload, kind, points in zip(payloads, types, corners, strict=True):
                    if payload:
                        found.append(DecodedCode(payload, kind, _bounds(points)))
        return found


def _bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return (float(points[:, 0].min()), float(points[:, 1].min()),
            float(points[:, 0].max()), float(points[:, 1].max()))
