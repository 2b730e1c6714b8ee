"""`liveinspect edge scan | text`: scans on ONNX Runtime alone, from an export folder or bundle.

    liveinspect edge scan room.mp4 --models edge.tar --out out/edge --threads 2
    liveinspect edge text titles.txt --models edge.tar

Needs only `liveinspect[edge]` (no torch). Every file of the export is
checked against its manifest first; a changed, missing or unlisted file
ends the command with exit code 2 before anything runs. The report has the
same schema as `liveinspect scan`'s.
"""

from __future__ import annotations

import argparse
import json
import sys

from liveinspect.cli.common import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, add_allow_private_urls
from liveinspect.schema import Broadcast, Severity


def _models(args: argparse.Namespace):
    from liveinspect.edge import open_edge_models

    return open_edge_models(args.models, threads=args.threads)


def cmd_edge_scan(args: argparse.Namespace) -> int:
    from liveinspect.broadcast_file import load_broadcast, load_products
    from liveinspect.cli.common import check_out_dir
    from liveinspect.cli.exit import exit_code, incomplete_reasons
    from liveinspect.cli.scan import _print_summary, stop_on_signals
    from liveinspect.edge import build_edge_inspector
    from liveinspect.errors import LiveInspectError
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.report.html import write_report

    if args.broadcast:
        broadcast = load_broadcast(args.broadcast)
        if args.source:
            broadcast = broadcast.model_copy(update={"source": args.source})
    elif args.source:
        broadcast = Broadcast(source=args.source)
    else:
        raise LiveInspectError("give a SOURCE (file or URL) or --broadcast FILE")
    updates = {key: value for key, value in (("title", args.title), ("cover", args.cover),
                                             ("profile", args.profile), ("account_name", args.account))
               if value is not None}
    if args.products:
        updates["products"] = load_products(args.products)
    broadcast = broadcast.model_copy(update=updates)
    out = check_out_dir(args.out)
    models = _models(args)  # every checksum, before anything runs
    names = None
    if args.analyzers:
        names = [n.strip() for n in args.analyzers.split(",") if n.strip() not in ("", "none")]
    options = ScanOptions(window_s=args.window, fps=args.fps, max_duration=args.max_duration,
                          progress=not args.no_progress, allow_private_urls=args.allow_private_urls)
    for name, reason in models.missing.items():
        print(f"liveinspect edge: analyzer {name} left out ({reason})", file=sys.stderr)
    with build_edge_inspector(models, names, options=options) as inspector, stop_on_signals() as stop:
        result = inspector.scan(broadcast, stop=stop)
    files = write_report(result.report, result.evidence, out, policy=inspector.policy)
    if args.json:
        print(result.report.to_json())
    else:
        _print_summary(result.report, files.html)
    print(f"models: {models.root} (export {models.manifest.digest})", file=sys.stderr)
    if result.report.media.state == "failed":
        print(f"liveinspect: error: {result.report.media.message}", file=sys.stderr)
    for reason in incomplete_reasons(result.report):
        print(f"liveinspect: incomplete: {reason}", file=sys.stderr)
    return exit_code(result.report, args.fail_on)


def cmd_edge_text(args: argparse.Namespace) -> int:
    from liveinspect.broadcast_file import load_products
    from liveinspect.cli.text import BATCH_LINES, _open_lines, run_text_command
    from liveinspect.edge.runtime import edge_text_analyzer

    models = _models(args)
    analyzer = edge_text_analyzer(models, lexicon_only=args.lexicon_only)
    products = load_products(args.products) if args.products else []
    threshold = Severity(args.fail_on).rank
    reached = failed = False
    with _open_lines(args.file) as stream:
        interactive = getattr(stream, "isatty", lambda: False)()
        for result in run_text_command(stream, analyzer=analyzer, modality=args.modality, products=products,
                                       batch_lines=1 if interactive else BATCH_LINES):
            if "error" in result:
                failed = True
                print(f"liveinspect: incomplete: {result['error']}", file=sys.stderr)
            reached = reached or any(Severity(f["severity"]).rank >= threshold
                                     for f in result.get("findings", ()))
            print(json.dumps(result, ensure_ascii=False, allow_nan=False), flush=True)
    if reached:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if failed else EXIT_CLEAN


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, metavar="DIR_OR_TAR",
                        help="export folder or bundle tar written by `liveinspect export`")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per model (default: one per core)")
    parser.add_argument("--fail-on", default="low", choices=[s.value for s in Severity],
                        help="exit 1 when a finding reaches this severity (default: low)")


def register(sub: argparse._SubParsersAction) -> None:
    edge = sub.add_parser("edge", help="scan on ONNX Runtime alone from an export (no torch)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = edge.add_subparsers(dest="edge_command", required=True)

    scan = commands.add_parser("scan", help="scan a recording or stream URL and write a report")
    scan.add_argument("source", nargs="?", help="file path or URL (file, http(s), rtmp, HLS)")
    scan.add_argument("--broadcast", help="YAML/JSON describing source, title, cover, profile, products")
    scan.add_argument("--title")
    scan.add_argument("--cover", help="cover image file")
    scan.add_argument("--profile", help="account profile text")
    scan.add_argument("--account", help="account name")
    scan.add_argument("--products", help="YAML/JSON list of products (name, category, price)")
    scan.add_argument("--out", default="out/edge", help="folder for report.json, report.html, frames/")
    scan.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    scan.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    scan.add_argument("--window", type=float, default=30.0, help="seconds per segment (default 30)")
    scan.add_argument("--max-duration", type=float, help="stop after this many seconds (live streams)")
    scan.add_argument("--analyzers", help="comma-separated analyzers (default: all the export can run)")
    scan.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_allow_private_urls(scan)
    _common(scan)
    scan.set_defaults(func=cmd_edge_scan)

    text = commands.add_parser("text", help="check one text per line; prints one JSON object per line")
    text.add_argument("file", nargs="?", help="file with one text per line, or - for stdin")
    text.add_argument("--modality", default="title",
                      choices=["title", "profile", "speech", "onscreen_text", "cover"])
    text.add_argument("--lexicon-only", action="store_true", help="without the claim classifier")
    text.add_argument("--products", help="YAML/JSON list of the products on sale (name, category, ...): "
                                         "their categories decide which efficacy claims are lawful")
    _common(text)
    text.set_defaults(func=cmd_edge_text)
