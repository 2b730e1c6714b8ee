"""`liveinspect text`: check one text per line; one JSON object per line on stdout."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from liveinspect.cli.common import EXIT_CLEAN, EXIT_FINDINGS, add_text_model_options, component_settings
from liveinspect.errors import LiveInspectError
from liveinspect.schema import Severity


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
    from liveinspect.pipelines.text import TextAnalyzer, TextOptions, run_text_command
    from liveinspect.policy import load_policy_dir

    policy = load_policy_dir(args.policy)
    options = component_settings(args).get("text") or TextOptions()
    analyzer = TextAnalyzer.from_options(options, policy=policy)
    threshold = Severity(args.fail_on).rank
    reached = False
    with _open_lines(args.file) as stream:
        # A file goes through the models 64 lines at a time; a person typing gets each line at once.
        batch_lines = 1 if stream.isatty() else 64
        for result in run_text_command(stream, analyzer=analyzer, modality=args.modality,
                                       batch_lines=batch_lines):
            reached = reached or any(Severity(f["severity"]).rank >= threshold for f in result["findings"])
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return EXIT_FINDINGS if reached else EXIT_CLEAN



def register(sub: argparse._SubParsersAction) -> None:
    text = sub.add_parser("text", help="check one text per line; prints one JSON object per line")
    text.add_argument("file", nargs="?", help="file with one text per line, or - for stdin")
    text.add_argument("--modality", default="title",
                      choices=["title", "profile", "speech", "onscreen_text", "cover"])
    text.add_argument("--fail-on", default="low", choices=[s.value for s in Severity])
    text.add_argument("--policy", help="folder with your own policy YAML files")
    add_text_model_options(text)
    text.set_defaults(func=cmd_text)
