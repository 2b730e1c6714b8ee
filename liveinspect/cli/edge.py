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
import sys

from liveinspect.cli.common import add_broadcast_arguments, add_scan_options
from liveinspect.cli.text import add_text_arguments


def _models(args: argparse.Namespace):
    from liveinspect.edge import open_edge_models

    return open_edge_models(args.models, threads=args.threads)


def cmd_edge_scan(args: argparse.Namespace) -> int:
    from liveinspect.cli.common import (analyzer_names, broadcast_from_args, check_out_dir,
                                        scan_options_from_args)
    from liveinspect.cli.scan import stop_on_signals, write_and_report
    from liveinspect.edge import build_edge_inspector

    broadcast = broadcast_from_args(args)
    out = check_out_dir(args.out)
    models = _models(args)  # every checksum, before anything runs
    for name, reason in models.missing.items():
        print(f"liveinspect edge: analyzer {name} left out ({reason})", file=sys.stderr)
    options = scan_options_from_args(args)
    with build_edge_inspector(models, analyzer_names(args), options=options) as inspector, \
            stop_on_signals() as stop:
        result = inspector.scan(broadcast, stop=stop)
    print(f"models: {models.root} (export {models.manifest.digest})", file=sys.stderr)
    return write_and_report(result, inspector.policy, out, args)


def cmd_edge_text(args: argparse.Namespace) -> int:
    from liveinspect.cli.text import print_text_results
    from liveinspect.edge.runtime import edge_text_analyzer

    return print_text_results(args, edge_text_analyzer(_models(args), lexicon_only=args.lexicon_only))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, metavar="DIR_OR_TAR",
                        help="export folder or bundle tar written by `liveinspect export`")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per model (default: one per core)")


def register(sub: argparse._SubParsersAction) -> None:
    edge = sub.add_parser("edge", help="scan on ONNX Runtime alone from an export (no torch)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = edge.add_subparsers(dest="edge_command", required=True)

    scan = commands.add_parser("scan", help="scan a recording or stream URL and write a report")
    add_broadcast_arguments(scan)
    add_scan_options(scan, out="out/edge")
    _common(scan)
    scan.set_defaults(func=cmd_edge_scan)

    text = commands.add_parser("text", help="check one text per line; prints one JSON object per line")
    add_text_arguments(text)
    text.add_argument("--lexicon-only", action="store_true", help="without the claim classifier")
    _common(text)
    text.set_defaults(func=cmd_edge_text)
