"""The text check before and after the multilingual encoder, measured side by side in one run.

Two workloads, each run with the check as it was (lexicon + n-gram model) and as it is now
(lexicon + n-gram + encoder, the default):

- `liveinspect text` on 10,000 lines: the claim training texts drawn with replacement (seeded),
  with a share of exact repeats as OCR produces when a caption stays on screen; the lines go
  through `run_text_command` 64 at a time, as the command does for a file.
- the demo scan (`examples/demo`): the full inspector, the text check's own seconds next to every
  analyzer's, to see whether the text check becomes the slowest stage.

Threads are capped (default 2, the CI machine's cores) for torch and ONNX Runtime alike. The
encoder's load (hashing the packed file, the ONNX session) is timed separately; its one-off
conversion into the cache is done before timing starts. Run:

    .venv/bin/python bench/text.py                 # both workloads
    .venv/bin/python bench/text.py --lines 2000 --no-demo --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "liveinspect" / "data" / "claims" / "train.jsonl"
DEMO = ROOT / "examples" / "demo"


def make_lines(count: int, repeat_share: float, seed: int = 0) -> list[str]:
    texts = [json.loads(line)["text"] for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(seed)
    lines: list[str] = []
    for _ in range(count):
        if lines and rng.random() < repeat_share:
            lines.append(lines[-rng.randint(1, min(len(lines), 20))])  # a caption seen again
        else:
            lines.append(rng.choice(texts))
    return lines


def analyzers(threads: int):
    from liveinspect.backends import BackendOptions
    from liveinspect.models.claims import load_default_claim_classifier
    from liveinspect.models.claims.combined import CombinedClaimClassifier
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier
    from liveinspect.models.claims.encoder import E5Encoder
    from liveinspect.pipelines.text import TextAnalyzer
    from liveinspect.policy import load_policy

    policy = load_policy()
    E5Encoder()  # converts into the cache on the very first run; not part of any timing
    ngram = load_default_claim_classifier()
    started = time.perf_counter()
    encoder = E5Encoder(options=BackendOptions(kind="onnx", precision="int8", threads=threads))
    head = EncoderClaimClassifier.load(encoder=encoder)
    load_s = time.perf_counter() - started
    return ({"before": TextAnalyzer(policy=policy, classifier=ngram),
             "after": TextAnalyzer(policy=policy, classifier=CombinedClaimClassifier(ngram, head))},
            load_s)


def bench_lines(checks: dict, lines: list[str]) -> dict:
    from liveinspect.cli.text import run_text_command

    results = {}
    for name, analyzer in checks.items():
        started = time.perf_counter()
        encoded = [line.encode() for line in lines]
        rows = run_text_command(encoded, analyzer=analyzer, batch_lines=64)
        flagged = sum(bool(r["findings"]) for r in rows)
        seconds = time.perf_counter() - started
        results[name] = {"seconds": round(seconds, 2), "lines_per_s": round(len(lines) / seconds, 1),
                         "lines_with_findings": flagged}
    return results


class _TimedText:
    """Wraps a text analyzer to add up the seconds the scan spends in it."""

    def __init__(self, analyzer) -> None:
        self._analyzer = analyzer
        self.seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self._analyzer, name)

    def observe(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._analyzer.observe(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def bench_demo(checks: dict) -> dict:
    from liveinspect.broadcast_file import load_broadcast
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.pipelines.registry import build_inspector

    broadcast = load_broadcast(DEMO / "broadcast.yaml")
    results = {}
    for name, analyzer in checks.items():
        timed = _TimedText(analyzer)
        with build_inspector(options=ScanOptions(progress=False), text_analyzer=timed) as inspector:
            started = time.perf_counter()
            report = inspector.scan(broadcast).report
            total = time.perf_counter() - started
        stages = {a.name: round(a.seconds, 2) for a in report.analyzers if a.state == "ran" and a.seconds}
        stages["text"] = round(timed.seconds, 2)
        slowest = max(stages, key=stages.get)
        results[name] = {"scan_s": round(total, 2), "stage_seconds": stages, "slowest_stage": slowest,
                         "findings": len(report.findings)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat-share", type=float, default=0.4, help="share of lines repeating one seen")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    logging.disable(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    checks, load_s = analyzers(args.threads)
    results = {"threads": args.threads, "encoder_load_s": round(load_s, 2),
               "text_command": {"lines": args.lines, "repeat_share": args.repeat_share,
                                **bench_lines(checks, make_lines(args.lines, args.repeat_share))}}
    if not args.no_demo and (DEMO / "demo.mp4").is_file():
        results["demo_scan"] = bench_demo(checks)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    text = results["text_command"]
    print(f"threads {args.threads}; encoder load {results['encoder_load_s']} s")
    print(f"liveinspect text, {args.lines} lines ({args.repeat_share:.0%} repeats):")
    for name in ("before", "after"):
        print(f"  {name:6s} {text[name]['seconds']:8.2f} s  {text[name]['lines_per_s']:8.1f} lines/s  "
              f"{text[name]['lines_with_findings']} lines with findings")
    print(f"  after / before: {text['after']['seconds'] / text['before']['seconds']:.2f}x the time")
    for name, scan in results.get("demo_scan", {}).items():
        print(f"demo scan, {name}: {scan['scan_s']} s; stages {scan['stage_seconds']}; slowest: "
              f"{scan['slowest_stage']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
