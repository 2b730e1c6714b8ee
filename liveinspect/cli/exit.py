"""What a finished scan's exit code is, decided from its report in one place.

    0  clean: the whole source was inspected by every analyzer that was asked for, nothing reached --fail-on
    1  a finding reached --fail-on
    2  an error: bad input or options, a missing file, a source that did not decode at all
    3  incomplete: nothing reached --fail-on, but part of the broadcast was not inspected
       (media partial or stopped, an analyzer failed, the cover could not be read, an item skipped)

A finding beats incompleteness: the broadcast already needs action, and the
stderr lines say what was not inspected. A new report field that means "not
everything was looked at" belongs in `incomplete_reasons`, and nowhere else.
"""

from __future__ import annotations

from liveinspect.schema import Report, Severity

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3


def incomplete_reasons(report: Report) -> list[str]:
    """One line per part of the broadcast that was not inspected, and why."""
    reasons = []
    media = report.media
    if media.state in ("partial", "stopped"):
        where = f" at {media.stopped_at:.1f} s" if media.stopped_at is not None else ""
        reasons.append(f"media {media.state}{where}: {media.message or 'not inspected to the end'}")
    for status in report.analyzers:
        what = "cover" if status.name == "cover" else f"analyzer {status.name}"
        if status.state == "failed":
            reasons.append(f"{what} failed: {status.reason}")
        elif status.failed_items:
            first = f" (first: {status.errors[0]})" if status.errors else ""
            reasons.append(f"{what}: {status.failed_items} item(s) not inspected{first}")
    return reasons


def exit_code(report: Report, fail_on: str | Severity = Severity.low) -> int:
    """The documented exit code for a finished scan (see the module docstring)."""
    if report.media.state == "failed":
        return EXIT_ERROR
    threshold = Severity(fail_on).rank
    if any(f.severity.rank >= threshold for f in report.findings):
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if incomplete_reasons(report) else EXIT_CLEAN
