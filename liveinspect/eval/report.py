"""Write an evaluation: `metrics.json` for machines, `report.html` + PNG plots for people.

The report compares the systems in `results["systems"]` side by side
(headline numbers with 95% bootstrap intervals), then shows ROC and DET
curves, each system's confusion matrix and per-class table, reliability
diagrams where a system has probabilities, and the worst errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from liveinspect.eval.plots import plot_confusion, plot_det, plot_reliability, plot_roc

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.ci { color: #777; font-size: 0.85em; }
.plots img { max-width: 48%; margin: 0.5em 1% 0.5em 0; border: 1px solid #eee; }
.note { color: #555; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="note">{{ rows }} labelled rows{% if classifier %}; classifier {{ classifier.name }}
 version {{ classifier.version }}{% endif %}. Intervals are 95% bootstrap intervals.</p>
<h2>Side by side</h2>
<table><tr><th>system</th><th>macro F1</th><th>accuracy</th><th>violation ROC-AUC</th><th>EER</th>
<th>TPR at FPR 5%</th><th>ECE</th></tr>
{% for s in summary %}<tr><td>{{ s.name }}</td>
<td>{{ s.macro_f1 }}</td><td>{{ s.accuracy }}</td><td>{{ s.auc }}</td><td>{{ s.eer }}</td>
<td>{{ s.tpr_at_5 }}</td><td>{{ s.ece }}</td></tr>{% endfor %}
</table>
<h2>Curves</h2>
<div class="plots">{% for p in curve_plots %}<img src="{{ p }}" alt="{{ p }}">{% endfor %}</div>
{% for s in systems %}
<h2>{{ s.name }}</h2>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>
{% if s.auc %}<th>ROC-AUC (one vs rest)</th>{% endif %}</tr>
{% for label, m in s.per_class.items() %}<tr><td>{{ label }}</td><td>{{ "%.3f"|format(m.precision) }}</td>
<td>{{ "%.3f"|format(m.recall) }}</td><td>{{ "%.3f"|format(m.f1) }}</td><td>{{ m.support }}</td>
{% if s.auc %}<td>{{ s.auc[label] if s.auc[label] is none else "%.3f"|format(s.auc[label]) }}</td>{% endif %}
</tr>{% endfor %}</table>
<div class="plots">{% for p in s.plots %}<img src="{{ p }}" alt="{{ p }}">{% endfor %}</div>
<h3>Worst errors</h3>
<table><tr><th>text</th><th>true</th><th>predicted</th><th>confidence</th></tr>
{% for e in s.errors %}<tr><td class="text">{{ e.text }}</td><td>{{ e.true }}</td><td>{{ e.predicted }}</td>
<td>{{ "%.3f"|format(e.confidence) }}</td></tr>{% endfor %}</table>
{% endfor %}
</body></html>
"""


@dataclass
class EvalReportFiles:
    metrics_json: Path
    html: Path
    plots: list[Path]


def _with_interval(value: float | None, interval: dict | None) -> str | Markup:
    if value is None:
        return "—"
    if interval is None:
        return f"{value:.3f}"
    # Only formatted numbers go into this markup, so it is safe to mark as such.
    return Markup(f"{value:.3f} <span class=\"ci\">[{interval['low']:.3f}, {interval['high']:.3f}]</span>")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _summary_row(name: str, metrics: dict) -> dict:
    detection = metrics.get("detection") or {}
    intervals = metrics["intervals"]
    detection_intervals = detection.get("intervals") or {}
    at_5 = next((p for p in detection.get("at_fpr", []) if p["target_fpr"] == 0.05), None)
    return {"name": name,
            "macro_f1": _with_interval(metrics["macro"]["f1"], intervals["macro_f1"]),
            "accuracy": _with_interval(metrics["accuracy"], intervals["accuracy"]),
            "auc": _with_interval(detection.get("roc_auc"), detection_intervals.get("roc_auc")),
            "eer": _with_interval(detection.get("eer"), detection_intervals.get("eer")),
            "tpr_at_5": "—" if at_5 is None else f"{at_5['tpr']:.3f} (threshold {at_5['threshold']:.3f})",
            "ece": _with_interval(metrics.get("ece"), intervals.get("ece"))}


def write_eval_report(results: dict, out: str | Path, title: str | None = None) -> EvalReportFiles:
    """Write metrics.json, report.html and the PNG plots under `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    labels = results["labels"]
    systems = results["systems"]
    plots: list[Path] = []
    curves = {name: m["detection"]["curve"] for name, m in systems.items()
              if "curve" in m.get("detection", {})}
    curve_plots = []
    if curves:
        curve_plots = [plot_roc(curves, out / "roc.png"), plot_det(curves, out / "det.png")]
        plots += curve_plots
    sections = []
    for name, metrics in systems.items():
        slug = _slug(name)
        system_plots = [plot_confusion(metrics["confusion_matrix"], labels, f"{name}: confusion matrix",
                                       out / f"confusion-{slug}.png")]
        if "reliability" in metrics:
            system_plots.append(plot_reliability(metrics["reliability"],
                                                 f"{name}: reliability (ECE {metrics['ece']:.3f})",
                                                 out / f"reliability-{slug}.png"))
        plots += system_plots
        sections.append({"name": name, "per_class": metrics["per_class"],
                         "auc": metrics.get("roc_auc_per_class"),
                         "plots": [p.name for p in system_plots], "errors": metrics.get("worst_errors", [])})
    environment = Environment(autoescape=select_autoescape(default=True))
    html = environment.from_string(_TEMPLATE).render(
        title=title or f"liveinspect eval: {results.get('task', 'classification')}",
        rows=results.get("rows"), classifier=results.get("classifier"),
        summary=[_summary_row(name, m) for name, m in systems.items()],
        curve_plots=[p.name for p in curve_plots], systems=sections)
    html_path = out / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return EvalReportFiles(metrics_path, html_path, plots)
