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
    add_broadcast_arguments,
    add_model_options,
    add_policy_option,
    add_scan_options,
    analyzer_names,
    broadcast_from_args,
    check_out_dir,
    check_requested_models,
    component_settings,
    demo_dir,
    scan_options_from_args,
)
from liveinspect.cli.exit import exit_code, incomplete_reasons
from liveinspect.errors import LiveInspectError
from liveinspect.schema import Broadcast, Report


def _scan_and_write(broadcast: Broadcast, args: argparse.Namespace) -> int:
    from liveinspect.pipelines.registry import build_inspector
    from liveinspect.policy import load_policy_dir

    out = check_out_dir(args.out)   # before the scan: a typo must not cost an hour of decoding
    cover = broadcast.cover
    if cover and "://" not in cover and not Path(cover).is_file():
        raise LiveInspectError(f"cover {cover} not found (or not a file)")
    policy = load_policy_dir(args.policy)
    with build_inspector(analyzer_names(args), options=scan_options_from_args(args), policy=policy,
                         settings=component_settings(args)) as inspector:
        check_requested_models(args, inspector)
        with stop_on_signals() as stop:
            result = inspector.scan(broadcast, stop=stop)
    return write_and_report(result, inspector.policy, out, args)


def write_and_report(result, policy, out: Path, args: argparse.Namespace) -> int:
    """Write the scan's report and thumbnails, print its summary (or its JSON with --json) and
    what made it fail or incomplete; the exit code for --fail-on."""
    from liveinspect.report.html import write_report

    files = write_report(result.report, result.evidence, out, policy=policy)
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
    return _scan_and_write(broadcast_from_args(args), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from liveinspect.broadcast_file import load_broadcast

    broadcast = load_broadcast(demo_dir() / "broadcast.yaml")
    code = _scan_and_write(broadcast, args)
    # The demo is meant to show findings; finding them is success, not failure.
    return EXIT_CLEAN if code == EXIT_FINDINGS else code



def register(sub: argparse._SubParsersAction) -> None:
    scan = sub.add_parser("scan", help="scan a recording or stream URL and write a report")
    add_broadcast_arguments(scan)
    demo = sub.add_parser("demo", help="scan the shipped demo broadcast")
    for parser in (scan, demo):
        add_scan_options(parser)
        add_policy_option(parser)
        add_model_options(parser)
    scan.set_defaults(func=cmd_scan)
    demo.set_defaults(func=cmd_demo, out="out/demo")
