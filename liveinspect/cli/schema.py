"""`liveinspect schema`: the report's JSON Schema."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liveinspect.cli.common import EXIT_CLEAN


def cmd_schema(args: argparse.Namespace) -> int:
    from liveinspect.schema import report_json_schema

    text = json.dumps(report_json_schema(), indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text)
    return EXIT_CLEAN



def register(sub: argparse._SubParsersAction) -> None:
    schema = sub.add_parser("schema", help="print the report's JSON Schema")
    schema.add_argument("--out", help="write it to this file instead")
    schema.set_defaults(func=cmd_schema)
