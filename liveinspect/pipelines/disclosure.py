"""The labeling rules' three tiers, from what was found in one broadcast.

- **labelled**: an implicit `AIGC` metadata label, or an explicit one in the
  content (on-screen notice, spoken prompt, the Morse audio cue) -> `aigc_label`;
- **declared**: the uploader says so in the title, profile or product list -> `aigc_declared`;
- **suspected**: a detector calls the voice or the presenter synthetic and
  nothing discloses that medium -> `undisclosed_synthetic_media`, with the
  detector's evidence.

The detectors' own `synthetic_voice` / `synthetic_avatar` findings stay in the
report either way, with their scores and spans. This runs once per broadcast,
after every analyzer has finished, because a title can disclose a voice heard
an hour later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from liveinspect.media.aigc import ProvenanceMarks
from liveinspect.media.audio_cues import MorseCue
from liveinspect.policy.labels import LabelPolicy, Medium, load_label_policy
from liveinspect.schema import Evidence, Finding, FindingKind, Modality
from liveinspect.text.ai_labels import LabelEvidence

MODEL = "aigc-disclosure"
MODEL_VERSION = "1"

_MEDIUM_OF_KIND = {FindingKind.synthetic_voice: Medium.voice, FindingKind.synthetic_avatar: Medium.avatar}
_ALL = frozenset(Medium)


def implicit_label_evidence(marks: ProvenanceMarks | None) -> list[LabelEvidence]:
    """The file's AIGC metadata labels as disclosures of every medium in it."""
    if marks is None:
        return []
    return [LabelEvidence(tier="labelled", how="metadata", discloses=_ALL, matched=label.describe(),
                          group="implicit",
                          modality=Modality.audio if "audio" in label.where else Modality.frame,
                          notes=(f"Label={label.label!r}",) if not label.confirmed else ())
            for label in marks.labels]


def cue_label_evidence(cues: Iterable[MorseCue]) -> list[LabelEvidence]:
    """Morse ·−·· cues as disclosures of the audio (the standard's rhythm label)."""
    return [LabelEvidence(tier="labelled", how="audio_cue", discloses=frozenset({Medium.voice}),
                          matched=cue.pattern, group="morse_cue", modality=Modality.audio,
                          t_start=cue.t_start, t_end=cue.t_end,
                          notes=(f"{cue.frequency_hz:.0f} Hz, unit {cue.unit_s * 1000:.0f} ms",))
            for cue in cues]


def _label_finding(label: LabelEvidence) -> Finding:
    kind = FindingKind.aigc_label if label.tier == "labelled" else FindingKind.aigc_declared
    category = f"{label.how}:{label.group}"
    if label.prominent is False:
        category += ":not_prominent"
    what = "discloses AI-generated content" if label.tier == "labelled" else "declares AI-generated content"
    return Finding(
        kind=kind, modality=label.modality, t_start=label.t_start, t_end=label.t_end,
        evidence=Evidence(text=label.text, frame_index=label.frame_index, box=label.box,
                          matched_term=label.matched, category=category,
                          audio_span=(label.t_start, label.t_end) if label.how == "audio_cue" else None),
        score=1.0, model=MODEL, model_version=MODEL_VERSION,
        message=f"{label.describe()} {what} ({', '.join(sorted(m.value for m in label.discloses))})")


def disclosure_findings(detections: Sequence[Finding], labels: Sequence[LabelEvidence],
                        policy: LabelPolicy | None = None) -> list[Finding]:
    """The tiered findings for one broadcast.

    `detections` are the voice and avatar analyzers' `synthetic_voice` /
    `synthetic_avatar` findings (score = calibrated probability of synthetic);
    `labels` every disclosure found (explicit, declared, implicit, cue).
    Returns the `aigc_label` / `aigc_declared` findings, one per distinct
    label, and an `undisclosed_synthetic_media` finding per detection at or
    above the policy's threshold for a medium nothing discloses.
    """
    policy = policy or load_label_policy()
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for label in labels:
        key = (label.tier, label.how, label.matched, label.t_start, label.frame_index)
        if key not in seen:
            seen.add(key)
            findings.append(_label_finding(label))
    disclosed = {medium for label in labels for medium in label.discloses}
    thresholds = {Medium.voice: policy.thresholds.voice, Medium.avatar: policy.thresholds.avatar}
    for detection in detections:
        medium = _MEDIUM_OF_KIND.get(detection.kind)
        if medium is None or medium in disclosed or detection.score < thresholds[medium]:
            continue
        span = ""
        if detection.t_start is not None and detection.t_end is not None:
            span = f" at {detection.t_start:.1f}-{detection.t_end:.1f} s"
        what = "voice" if medium is Medium.voice else "presenter"
        findings.append(Finding(
            kind=FindingKind.undisclosed_synthetic_media, modality=detection.modality,
            t_start=detection.t_start, t_end=detection.t_end,
            evidence=detection.evidence.model_copy(update={"category": f"suspected:{medium.value}"}),
            score=detection.score, model=detection.model, model_version=detection.model_version,
            message=(f"suspected AI-generated {what}{span} (score {detection.score:.2f}, "
                     f"{detection.model}) and nothing in the broadcast discloses it: label it as "
                     "suspected AI content (疑似AI生成) and warn")))
    return findings
