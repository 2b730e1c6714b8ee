"""`liveinspect models [--json]`: which models a scan would use, and why any part is skipped.

It builds the analyzers exactly as `scan` does, so what it prints is what a
scan gets, not a separate guess.
"""

from __future__ import annotations

import argparse
import json

from liveinspect.schema import AnalyzerStatus


def model_statuses(settings: dict | None = None, *, claim_model: str | None = None,
                   lexicon_only: bool = False) -> list[AnalyzerStatus]:
    from liveinspect.pipelines.registry import build_inspector, build_text_analyzer
    from liveinspect.policy import load_policy

    policy = load_policy()
    text = build_text_analyzer(policy, claim_model, lexicon_only=lexicon_only)
    statuses = [AnalyzerStatus(name="text", state="ran", model=text.model_name,
                               model_version=text.model_version)]
    with build_inspector(policy=policy, text_analyzer=text, settings=settings) as inspector:
        return statuses + inspector.model_statuses()


def _describe(status: AnalyzerStatus) -> dict:
    # "ran" in a report; here nothing has run yet, so say "available".
    state = "available" if status.state == "ran" else status.state
    return {"name": status.name, "state": state, "model": status.model,
            "model_version": status.model_version, "reason": status.reason}


def run_models(args: argparse.Namespace) -> int:
    from liveinspect.cli.common import analyzer_settings

    statuses = model_statuses(analyzer_settings(args), claim_model=args.claim_model,
                              lexicon_only=args.lexicon_only)
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
