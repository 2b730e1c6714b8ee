"""Collapse repeats of one finding (a banner on screen for a minute) into one time span."""

from __future__ import annotations

from liveinspect.schema import Finding


def _identity(finding: Finding) -> tuple:
    e = finding.evidence
    matched = e.matched_term or (e.text.matched if e.text else None)
    return (finding.kind, finding.modality, matched, e.category, e.payload)


def merge_repeated_findings(findings: list[Finding], gap_s: float) -> list[Finding]:
    """Merge findings of the same kind, modality and evidence whose times touch within `gap_s`.

    The earliest occurrence keeps its evidence (frame, box, span); its time
    span grows to cover the repeats and its score becomes the highest seen.
    Untimed findings (title, profile, cover) are kept as they are.
    """
    timed = sorted((f for f in findings if f.t_start is not None), key=lambda f: f.t_start)
    merged: list[Finding] = [f for f in findings if f.t_start is None]
    open_by_identity: dict[tuple, Finding] = {}
    for finding in timed:
        key = _identity(finding)
        previous = open_by_identity.get(key)
        end = finding.t_end if finding.t_end is not None else finding.t_start
        if previous is not None and finding.t_start <= (previous.t_end or previous.t_start) + gap_s:
            previous.t_end = max(previous.t_end or previous.t_start, end)
            previous.score = max(previous.score, finding.score)
            continue
        open_by_identity[key] = finding
        merged.append(finding)
    return merged
