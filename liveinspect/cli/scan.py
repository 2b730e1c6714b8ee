"""`liveinspect scan` and `liveinspect demo`: scan a broadcast, write report.json and report.html."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from liveinspect.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_scan_options,
    check_out_dir,
    check_requested_models,
    component_settings,
    demo_dir,
)
from liveinspect.cli.exit import exit_code, incomplete_reasons
from liveinspect.errors import LiveInspectError
from liveinspect.schema import Broadcast, Report


def _scan_and_write(broadcast: Broadcast, args: argparse.Namespace) -> int:
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.pipelines.registry import build_inspector
    from liveinspect.policy import load_policy_dir
    from liveinspect.report.html import write_report

    out = check_out_dir(args.out)   # before the scan: a typo must not cost an hour of decoding
    cover = broadcast.cover
    if cover and "://" not in cover and not Path(cover).is_file():
        raise LiveInspectError(f"cover {cover} not found (or not a file)")
    options = ScanOptions(window_s=args.window, fps=args.fps, max_duration=args.max_duration,
                          progress=not args.no_progress, allow_private_urls=args.allow_private_urls)
    names = None  # all
    if args.analyzers:  # "none": only the title, profile and product list are checked
        names = [n.strip() for n in args.analyzers.split(",") if n.strip() not in ("", "none")]
    policy = load_policy_dir(args.policy)
    with build_inspector(names, options=options, policy=policy,
                         settings=component_settings(args)) as inspector:
        check_requested_models(args, inspector)
        with stop_on_signals() as stop:
            result = inspector.scan(broadcast, stop=stop)
    files = write_report(result.report, result.evidence, out, policy=inspector.policy)
    if args.json:
        print(result.report.to_json())
    else:
        _print_summary(result.report, files.html)
    if result.report.media.state == "failed":
        # The report still holds what the title, profile and cover gave; the source itself did not decode.
        print(f"liveinspect: error: {result.report.media.message}", file=sys.stderr)
    for reason in incomplete_reasons(result.report):
        print(f"liveinspect: incomplete: {reason}", file=sys.stderr)
    return exit_code(result.report, args.fail_on)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An Event set by the first SIGINT/SIGTERM, so the scan ends after the segment in hand and
    its report (title, profile, cover and everything decoded so far) is still written. A second
    signal interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"liveinspect: {signal.Signals(signum).name}: stopping after the current segment and "
              "writing the report (send it again to abort)", file=sys.stderr)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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



def register(sub: argparse._SubParsersAction) -> None:
    scan = sub.add_parser("scan", help="scan a recording or stream URL and write a report")
    scan.add_argument("source", nargs="?", help="file path or URL (file, http(s), rtmp, HLS)")
    scan.add_argument("--broadcast", help="YAML/JSON describing source, title, cover, profile, products")
    scan.add_argument("--title")
    scan.add_argument("--cover", help="cover image file")
    scan.add_argument("--profile", help="account profile text")
    scan.add_argument("--account", help="account name")
    scan.add_argument("--products", help="YAML/JSON list of products (name, category, price)")
    add_scan_options(scan)
    scan.set_defaults(func=cmd_scan)

    demo = sub.add_parser("demo", help="scan the shipped demo broadcast")
    add_scan_options(demo)
    demo.set_defaults(func=cmd_demo, out="out/demo")
