"""The `liveinspect` command: one module per command, each with `register(subparsers)`.

Exit codes (see liveinspect/cli/exit.py): 0 clean and completely inspected,
1 a finding reached --fail-on, 2 an error (bad input, missing file, media
that does not decode at all), 3 incomplete (part of the broadcast was not
inspected: partial or stopped media, a failed analyzer or cover, a skipped
item); errors and what was not inspected are printed on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from liveinspect import __version__
from liveinspect.cli.common import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_INCOMPLETE, demo_dir
from liveinspect.errors import LiveInspectError

# Command modules, in the order `liveinspect --help` lists them.
COMMANDS = ("scan", "scan_many", "text", "schema", "probe", "transcribe", "models", "train", "evaluate",
            "serve", "keys", "export", "edge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveinspect",
        description="Compliance inspection of live-stream marketing: scan | demo | text | schema | probe "
                    "| transcribe | models | train | eval | export | edge.")
    parser.add_argument("--version", action="version", version=f"liveinspect {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"liveinspect.cli.{name}").register(sub)
    return parser


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


__all__ = ["EXIT_CLEAN", "EXIT_ERROR", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "build_parser", "demo_dir",
           "main"]
