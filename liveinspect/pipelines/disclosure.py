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
from liveinspect.pipelines.orchestrator import BroadcastView
from liveinspect.pipelines.registry import register_assessor
from liveinspect.media.audio_cues import MorseCue
from liveinspect.policy.labels import LabelPolicy, Medium, load_label_policy
from liveinspect.schema import Evidence, Finding, FindingKind, Modality
from liveinspect.text.ai_labels import LabelEvidence, find_explicit_labels

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


def _labels_from_findings(findings: Sequence[Finding]) -> list[LabelEvidence]:
    """`aigc_label` findings analyzers made themselves (the voice analyzer's Morse cues)."""
    out = []
    for finding in findings:
        category = finding.evidence.category or ""
        if finding.kind is FindingKind.aigc_label and category.startswith("audio_cue"):
            out.append(LabelEvidence(tier="labelled", how="audio_cue", discloses=frozenset({Medium.voice}),
                                     matched=finding.evidence.matched_term or "·−··", group="morse_cue",
                                     modality=Modality.audio, t_start=finding.t_start, t_end=finding.t_end))
    return out


def broadcast_texts(broadcast) -> list:
    """Title, profile and product list as TextItems (what the uploader declares)."""
    from liveinspect.schema import TextItem

    items = []
    if broadcast.title:
        items.append(TextItem(modality=Modality.title, text=broadcast.title, source="title"))
    if broadcast.profile:
        items.append(TextItem(modality=Modality.profile, text=broadcast.profile, source="profile"))
    for product in broadcast.products:
        text = " ".join(part for part in (product.name, product.description) if part)
        items.append(TextItem(modality=Modality.title, text=text, source="product_list"))
    return items


def assess_broadcast(broadcast, texts: Sequence, findings: Sequence[Finding], *,
                     frame_size: tuple[int, int] | None = None, frame_interval_s: float = 1.0,
                     policy: LabelPolicy | None = None, read_metadata: bool = True) -> list[Finding]:
    """Everything the labeling rules ask of one scanned broadcast, as new findings.

    `texts` are the report's texts (OCR lines, transcript; title/profile/products
    are added from `broadcast` when absent), `findings` the analyzers' findings
    (the detectors' synthetic_voice/avatar and the voice analyzer's cue labels).
    The source file's and cover's metadata are read for the implicit label when
    they are local files. Cue labels already in `findings` are not repeated.
    """
    from pathlib import Path

    from liveinspect.media.aigc import read_provenance

    policy = policy or load_label_policy()
    texts = list(texts)
    if not any(t.source in ("title", "profile", "product_list") for t in texts):
        texts += broadcast_texts(broadcast)
    labels = find_explicit_labels(texts, policy, frame_size=frame_size, frame_interval_s=frame_interval_s)
    if read_metadata:
        for source in (broadcast.source, broadcast.cover):
            if source and "://" not in str(source) and Path(source).is_file():
                labels += implicit_label_evidence(read_provenance(source))
    new = disclosure_findings(findings, labels, policy)
    # The cue findings exist already; they still count as disclosures of the voice.
    cue_labels = _labels_from_findings(findings)
    if cue_labels:
        extra = disclosure_findings(findings, labels + cue_labels, policy)
        new = [f for f in extra
               if f.kind is not FindingKind.aigc_label or f.evidence.category != "audio_cue:morse_cue"]
    return new


@register_assessor("disclosure")
def assess_scan(scan: BroadcastView) -> list[Finding]:
    """The labeling tiers of one scanned broadcast (see `assess_broadcast`), run by the orchestrator."""
    return assess_broadcast(scan.broadcast, scan.texts, scan.findings, frame_size=scan.frame_size,
                            frame_interval_s=1.0 / scan.fps, policy=scan.policy.aigc_labels)
