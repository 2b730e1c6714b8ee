"""`liveinspect probe SOURCE [--json]`: what a source holds, before scanning it."""

from __future__ import annotations

import argparse
import json
import sys

from liveinspect.cli.common import add_allow_private_urls


def run_probe(args: argparse.Namespace) -> int:
    from liveinspect.media import probe

    info = probe(args.source, allow_private_urls=args.allow_private_urls).to_dict()
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}", file=sys.stdout)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe", help="show the streams, duration and format of a file or URL")
    parser.add_argument("source", help="file path or URL (file, http(s), rtmp, HLS)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_allow_private_urls(parser)
    parser.set_defaults(func=run_probe)
