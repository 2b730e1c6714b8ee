"""Writes a scan's `report.json`, thumbnails and a self-contained `report.html`.

The HTML is for people who review a broadcast: a verdict, the timeline of
findings, frames with their boxes, the transcript with the offending spans
highlighted, the cover, and a per-article summary. All heavy lifting is done
here in Python so the template stays declarative.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.evidence import EvidenceStore
from liveinspect.schema import Finding, Modality, Report, Severity, TextItem

TIMELINE_LANES = [Modality.speech, Modality.onscreen_text, Modality.frame, Modality.audio]


@dataclass
class ReportFiles:
    json: Path
    html: Path


def write_report(report: Report, evidence: EvidenceStore, out_dir: str | Path,
                 policy=None) -> ReportFiles:
    """Write report.json (exactly `report`), report.html and the evidence thumbnails under `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The report already names its thumbnails (the scan set them), so report.json is exactly the
    # report the caller holds: nothing here changes it.
    thumbs = evidence.write(out)
    json_path = out / "report.json"
    write_atomically(json_path, report.to_json())
    html_path = out / "report.html"
    write_atomically(html_path, render_html(report, evidence, thumbs, policy))
    return ReportFiles(json_path, html_path)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    A reader (or a second scan writing to the same --out) sees the old file
    or the new one, never half of one; an interrupted write leaves no torn
    report behind.
    """
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent,  # noqa: SIM115 - renamed below
                                         prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def describe_details(details: dict) -> str:
    """An analyzer's observations in a sentence each (presenter presence has its own wording)."""
    parts = []
    for key, value in details.items():
        if key == "frames" and isinstance(value, dict) and "sampled" in value:
            parts.append(f"read {value['inspected']} of {value['sampled']} sampled frames (the others "
                         f"were near-duplicates of a frame read)")
        elif key == "presenter" and value.get("frames"):
            parts.append(f"presenter visible in {value['frames_with_face']} of {value['frames']} inspected "
                         f"frames ({value['share_with_face']:.0%}); longest stretch without a face "
                         f"{value['longest_absence_s']:.1f} s; most faces in one frame: {value['max_faces']}")
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def render_html(report: Report, evidence: EvidenceStore, thumbs: dict[str, str], policy=None) -> str:
    env = Environment(loader=PackageLoader("liveinspect.report", "templates"),
                      autoescape=select_autoescape(["html", "jinja"]))
    env.filters["details"] = describe_details
    template = env.get_template("report.html.jinja")
    numbered = list(enumerate(report.findings, start=1))
    return template.render(
        report=report,
        findings=numbered,
        timeline=_timeline(report, numbered),
        texts=_texts_with_highlights(report.texts, report.findings),
        frames=_frame_cards(numbered, evidence, thumbs),
        cover=_cover_card(numbered, evidence, thumbs),
        articles=_article_rows(report.findings, policy),
        severities=[s.value for s in Severity],
    )


def _timeline(report: Report, numbered: list[tuple[int, Finding]]) -> dict:
    duration = max([report.media.duration_s] + [f.t_end or f.t_start or 0 for _, f in numbered] + [1.0])
    marks = []
    for number, finding in numbered:
        if finding.t_start is None or finding.modality not in TIMELINE_LANES:
            continue
        end = finding.t_end if finding.t_end is not None else finding.t_start
        marks.append({
            "number": number,
            "lane": TIMELINE_LANES.index(finding.modality),
            "x": 100.0 * finding.t_start / duration,
            "width": max(100.0 * (end - finding.t_start) / duration, 0.6),
            "severity": finding.severity.value,
            "label": f"#{number} {finding.kind.value} {finding.t_start:.1f}-{end:.1f}s",
        })
    ticks = _ticks(duration)
    return {"duration": duration, "lanes": [m.value for m in TIMELINE_LANES], "marks": marks,
            "ticks": [{"x": 100.0 * t / duration, "label": _clock(t)} for t in ticks]}


_TICK_STEPS = (5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400)
MAX_TICKS = 12


def _ticks(duration: float) -> list[float]:
    """At most MAX_TICKS round times over `duration` seconds, for any duration (a day-long
    stream, or a header claiming years)."""
    if not math.isfinite(duration) or duration <= 0:
        return [0.0]
    step = next((s for s in _TICK_STEPS if duration / s <= MAX_TICKS), None)
    if step is None:   # beyond 12 days: whole days, a multiple chosen to fit
        step = 86400 * math.ceil(duration / 86400 / MAX_TICKS)
    return [float(t) for t in range(0, int(duration) + 1, step)]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _texts_with_highlights(texts: list[TextItem], findings: list[Finding]) -> list[dict]:
    # A finding quotes a window of its text (TextSpan.offset); it belongs to the
    # item of the same modality and length whose text holds that window there.
    spans_by_shape: dict[tuple, list] = defaultdict(list)
    for finding in findings:
        span = finding.evidence.text
        if span is not None:
            length = span.source_length if span.source_length is not None else len(span.text)
            spans_by_shape[(finding.modality, length)].append((span, finding))
    rows = []
    for item in texts:
        spans = sorted({(span.source_start, span.source_end, finding.severity.value, finding.kind.value)
                        for span, finding in spans_by_shape.get((item.modality, len(item.text)), [])
                        if item.text.startswith(span.text, span.offset)})
        rows.append({"item": item, "html": _highlight(item.text, spans), "flagged": bool(spans)})
    return rows


def _highlight(text: str, spans: list[tuple[int, int, str, str]]) -> Markup:
    parts, cursor = [], 0
    for start, end, severity, kind in spans:
        if start < cursor:  # overlapping spans: the first one wins the markup
            continue
        parts.append(html.escape(text[cursor:start]))
        parts.append(f'<mark class="sev-{severity}" title="{html.escape(kind)}">'
                     f"{html.escape(text[start:end])}</mark>")
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return Markup("".join(parts))


def _boxes(numbered: list[tuple[int, Finding]]) -> list[dict]:
    return [{"number": n, "severity": f.severity.value, "kind": f.kind.value,
             "x": f.evidence.box.x0, "y": f.evidence.box.y0,
             "w": f.evidence.box.x1 - f.evidence.box.x0, "h": f.evidence.box.y1 - f.evidence.box.y0}
            for n, f in numbered if f.evidence.box is not None]


def _frame_cards(numbered, evidence: EvidenceStore, thumbs: dict[str, str]) -> list[dict]:
    by_frame: dict[int, list[tuple[int, Finding]]] = defaultdict(list)
    for number, finding in numbered:
        if finding.evidence.frame_index is not None and finding.modality is not Modality.cover:
            by_frame[finding.evidence.frame_index].append((number, finding))
    cards = []
    for index, group in sorted(by_frame.items()):
        thumb = evidence.frames.get(index)
        if thumb is None:
            continue
        cards.append({"index": index, "src": thumbs[f"frame:{index}"], "width": thumb.width,
                      "height": thumb.height, "t": group[0][1].t_start, "boxes": _boxes(group),
                      "findings": group})
    return cards


def _cover_card(numbered, evidence: EvidenceStore, thumbs: dict[str, str]) -> dict | None:
    thumb = evidence.stills.get("cover")
    if thumb is None:
        return None
    group = [(n, f) for n, f in numbered if f.modality is Modality.cover]
    return {"src": thumbs["cover"], "width": thumb.width, "height": thumb.height,
            "boxes": _boxes(group), "findings": group}


def _article_rows(findings: list[Finding], policy) -> list[dict]:
    rows: dict[str, dict] = {}
    for finding in findings:
        for ref in finding.articles:
            row = rows.setdefault(ref, {"ref": ref, "count": 0, "worst": Severity.info,
                                        "kinds": set(), "summary": _article_summary(policy, ref)})
            row["count"] += 1
            row["kinds"].add(finding.kind.value)
            if finding.severity.rank > row["worst"].rank:
                row["worst"] = finding.severity
    return sorted(rows.values(), key=lambda r: (-r["worst"].rank, -r["count"], r["ref"]))


def _article_summary(policy, ref: str) -> str:
    if policy is None:
        return ""
    try:
        article = policy.article(ref)
    except LiveInspectError:  # a ref from a user's own policy file still gets its row
        return ""
    return f"{article.summary.en} / {article.summary.zh}"
