"""`liveinspect models [--json]`: which models a scan would use, and why any part is skipped.

It builds the analyzers exactly as `scan` does, so what it prints is what a
scan gets, not a separate guess.
"""

from __future__ import annotations

import argparse
import json

from liveinspect.schema import AnalyzerStatus


def model_statuses(settings: dict | None = None) -> list[AnalyzerStatus]:
    """What a scan with these component settings would run (built exactly as `scan` builds it)."""
    from liveinspect.pipelines.registry import build_inspector

    with build_inspector(settings=settings) as inspector:
        return inspector.model_statuses()


def _describe(status: AnalyzerStatus) -> dict:
    # "ran" in a report; here nothing has run yet, so say "available".
    state = "available" if status.state == "ran" else status.state
    return {"name": status.name, "state": state, "model": status.model,
            "model_version": status.model_version, "reason": status.reason}


def run_models(args: argparse.Namespace) -> int:
    from liveinspect.cli.common import component_settings

    statuses = model_statuses(component_settings(args))
    rows = [_describe(status) for status in statuses]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        detail = f"{row['model']} {row['model_version']}" if row["state"] == "available" else row["reason"]
        print(f"{row['name']:18} {row['state']:10} {detail}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from liveinspect.cli.common import add_model_options

    parser = subparsers.add_parser("models", help="list the models a scan would use and what is skipped")
    add_model_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_models)
