"""The `liveinspect` command: scan | demo | text | schema | probe | transcribe | models | train | eval.

Exit codes: 0 clean, 1 a finding reached --fail-on, 2 an error (bad input,
missing file, corrupt media); the error is printed on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from liveinspect import __version__
from liveinspect.errors import LiveInspectError
from liveinspect.schema import Broadcast, Report, Severity

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def demo_dir() -> Path:
    """The shipped demo broadcast: $LIVEINSPECT_DEMO, else examples/demo beside the package."""
    configured = os.environ.get("LIVEINSPECT_DEMO")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[1] / "examples" / "demo"
    if not (folder / "broadcast.yaml").is_file():
        raise LiveInspectError(f"demo broadcast not found in {folder}; run from a checkout of the "
                               "repository or set LIVEINSPECT_DEMO to the folder holding broadcast.yaml")
    return folder


def add_text_model_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How texts are judged; shared by scan, demo, text and models."""
    parser.add_argument("--lexicon-only", action="store_true",
                        help="text findings from the policy lexicon alone, without the claim classifier")
    parser.add_argument("--claim-model", help="claim classifier folder (n-gram checkpoint or transformers "
                                              "model; default: the shipped n-gram model)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Which weights the analyzers load; shared by scan, demo and models."""
    group = parser.add_argument_group("models")
    add_text_model_options(group)
    group.add_argument("--whisper", help="Whisper .pt checkpoint, CTranslate2 folder or model name "
                                         "(default: the packaged multilingual base)")
    group.add_argument("--language", help="force the spoken language (e.g. zh); default: detected per chunk")
    group.add_argument("--device", help="cuda, cuda:1 or cpu for speech (default: cuda when present)")
    group.add_argument("--clip-model",
                       help="open_clip model, e.g. ViT-B-32 (or $LIVEINSPECT_CLIP_MODEL)")
    group.add_argument("--clip-checkpoint", help="local open_clip weights for --clip-model")
    group.add_argument("--clip-text-dir",
                       help="local Hugging Face text tower for multilingual open_clip models")
    group.add_argument("--clip-head", action="append", default=[],
                       help="trained linear head on CLIP embeddings (repeatable)")
    group.add_argument("--exposure-model", help="nudenet ONNX detector file; off unless given (AGPL-3.0)")
    group.add_argument("--no-dedup", action="store_true",
                       help="read every sampled frame, even near-duplicates of the last one read")


def analyzer_settings(args: argparse.Namespace) -> dict[str, dict]:
    """Constructor arguments for each analyzer, from the --model options."""
    from liveinspect.pipelines.asr import TranscribeOptions

    frames = {key: value for key, value in (
        ("clip_model", args.clip_model), ("clip_checkpoint", args.clip_checkpoint),
        ("clip_text_model_dir", args.clip_text_dir), ("exposure_model", args.exposure_model))
        if value}
    if args.clip_head:
        frames["clip_heads"] = args.clip_head
    frames["skip_duplicates"] = not args.no_dedup
    return {"speech": {"weights": args.whisper, "device": args.device,
                       "options": TranscribeOptions(language=args.language)},
            "frames": frames}


def _check_requested_models(args: argparse.Namespace, inspector) -> None:
    """Weights the user named must load: a typo in --whisper is an error, not a quiet 'skipped'."""
    requested = {"speech": args.whisper, "frames.clip": args.clip_model or args.clip_checkpoint,
                 "frames.exposure": args.exposure_model}
    for status in inspector.model_statuses():
        if status.state != "ran" and requested.get(status.name):
            raise LiveInspectError(f"{status.name}: {status.reason}")


def _add_scan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/scan", help="folder for report.json, report.html, frames/")
    parser.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    parser.add_argument("--fail-on", default="low", choices=[s.value for s in Severity],
                        help="exit 1 when a finding reaches this severity (default: low)")
    parser.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per segment (default 30)")
    parser.add_argument("--max-duration", type=float, help="stop after this many seconds (live streams)")
    parser.add_argument("--analyzers", help="comma-separated analyzers to run, or none (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--policy", help="folder with your own policy YAML files (default: the shipped one)")
    add_model_options(parser)


def _scan_and_write(broadcast: Broadcast, args: argparse.Namespace) -> int:
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.pipelines.registry import build_inspector, build_text_analyzer
    from liveinspect.policy import load_policy_dir
    from liveinspect.report.html import write_report

    options = ScanOptions(window_s=args.window, fps=args.fps, max_duration=args.max_duration,
                          progress=not args.no_progress)
    names = None  # all
    if args.analyzers:  # "none": only the title, profile and product list are checked
        names = [n.strip() for n in args.analyzers.split(",") if n.strip() not in ("", "none")]
    policy = load_policy_dir(args.policy)
    text_analyzer = build_text_analyzer(policy, args.claim_model, lexicon_only=args.lexicon_only)
    with build_inspector(names, options=options, policy=policy, text_analyzer=text_analyzer,
                         settings=analyzer_settings(args)) as inspector:
        _check_requested_models(args, inspector)
        result = inspector.scan(broadcast)
    files = write_report(result.report, result.evidence, args.out, policy=inspector.policy)
    if args.json:
        print(result.report.to_json())
    else:
        _print_summary(result.report, files.html)
    if result.report.media.state == "failed":
        # The report still holds what the title, profile and cover gave; the source itself did not decode.
        print(f"liveinspect: error: {result.report.media.message}", file=sys.stderr)
        return EXIT_ERROR
    threshold = Severity(args.fail_on).rank
    reached = any(f.severity.rank >= threshold for f in result.report.findings)
    return EXIT_FINDINGS if reached else EXIT_CLEAN


def _print_summary(report: Report, html_path: Path) -> None:
    verdict = report.verdict
    print(f"{len(report.findings)} findings; highest severity "
          f"{verdict.severity.value if verdict else 'none'}; action "
          f"{verdict.action.value if verdict else 'none'}", file=sys.stderr)
    for finding in report.findings:
        when = f"{finding.t_start:7.1f}s" if finding.t_start is not None else "      — "
        what = finding.evidence.text.matched if finding.evidence.text else (finding.evidence.payload or "")
        print(f"  {when}  {finding.severity.value:8s} {finding.kind.value:22s} "
              f"{finding.modality.value:13s} {what}", file=sys.stderr)
    for status in report.analyzers:
        if status.state != "ran":
            print(f"  analyzer {status.name}: {status.state} ({status.reason})", file=sys.stderr)
    print(f"report: {html_path}", file=sys.stderr)


def cmd_scan(args: argparse.Namespace) -> int:
    from liveinspect.broadcast_file import load_broadcast, load_products

    if args.broadcast:
        broadcast = load_broadcast(args.broadcast)
    else:
        if not args.source:
            raise LiveInspectError("give a SOURCE (file or URL) or --broadcast FILE")
        broadcast = Broadcast(source=args.source)
    updates = {key: value for key, value in (("title", args.title), ("cover", args.cover),
                                             ("profile", args.profile), ("account_name", args.account))
               if value is not None}
    if args.source and args.broadcast:
        updates["source"] = args.source
    if args.products:
        updates["products"] = load_products(args.products)
    return _scan_and_write(broadcast.model_copy(update=updates), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from liveinspect.broadcast_file import load_broadcast

    broadcast = load_broadcast(demo_dir() / "broadcast.yaml")
    code = _scan_and_write(broadcast, args)
    # The demo is meant to show findings; finding them is success, not failure.
    return EXIT_CLEAN if code == EXIT_FINDINGS else code


@contextlib.contextmanager
def _open_lines(path: str | None) -> Iterator[TextIO]:
    if path in (None, "-"):
        yield sys.stdin
        return
    try:
        stream = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise LiveInspectError(f"cannot read {path}: {error}") from error
    with stream:
        yield stream


def cmd_text(args: argparse.Namespace) -> int:
    from liveinspect.pipelines.registry import build_text_analyzer
    from liveinspect.pipelines.text import run_text_command
    from liveinspect.policy import load_policy_dir

    policy = load_policy_dir(args.policy)
    analyzer = build_text_analyzer(policy, args.claim_model, lexicon_only=args.lexicon_only)
    threshold = Severity(args.fail_on).rank
    reached = False
    with _open_lines(args.file) as stream:
        for result in run_text_command(stream, analyzer=analyzer, modality=args.modality):
            reached = reached or any(Severity(f["severity"]).rank >= threshold for f in result["findings"])
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return EXIT_FINDINGS if reached else EXIT_CLEAN


def cmd_schema(args: argparse.Namespace) -> int:
    from liveinspect.schema import report_json_schema

    text = json.dumps(report_json_schema(), indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return EXIT_CLEAN


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveinspect", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"liveinspect {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="scan a recording or stream URL and write a report")
    scan.add_argument("source", nargs="?", help="file path or URL (file, http(s), rtmp, HLS)")
    scan.add_argument("--broadcast", help="YAML/JSON describing source, title, cover, profile, products")
    scan.add_argument("--title")
    scan.add_argument("--cover", help="cover image file")
    scan.add_argument("--profile", help="account profile text")
    scan.add_argument("--account", help="account name")
    scan.add_argument("--products", help="YAML/JSON list of products (name, category, price)")
    _add_scan_options(scan)
    scan.set_defaults(func=cmd_scan)

    demo = sub.add_parser("demo", help="scan the shipped demo broadcast")
    _add_scan_options(demo)
    demo.set_defaults(func=cmd_demo, out="out/demo")

    text = sub.add_parser("text", help="check one text per line; prints one JSON object per line")
    text.add_argument("file", nargs="?", help="file with one text per line, or - for stdin")
    text.add_argument("--modality", default="title",
                      choices=["title", "profile", "speech", "onscreen_text", "cover"])
    text.add_argument("--fail-on", default="low", choices=[s.value for s in Severity])
    text.add_argument("--policy", help="folder with your own policy YAML files")
    add_text_model_options(text)
    text.set_defaults(func=cmd_text)

    schema = sub.add_parser("schema", help="print the report's JSON Schema")
    schema.add_argument("--out", help="write it to this file instead")
    schema.set_defaults(func=cmd_schema)

    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Commands whose modules live in other subpackages (training, eval, serving)."""
    import importlib

    for module in ("liveinspect.media.cli", "liveinspect.pipelines.asr.cli", "liveinspect.models.cli",
                   "liveinspect.training.cli", "liveinspect.eval.cli"):
        try:
            importlib.import_module(module).register(sub)
        except ImportError as error:
            if error.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except LiveInspectError as error:
        print(f"liveinspect: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("liveinspect: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - exit code 2 promised on any error
        logging.getLogger("liveinspect").debug("unexpected error", exc_info=True)
        print(f"liveinspect: unexpected error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
