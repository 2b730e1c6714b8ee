"""`liveinspect text`: check one text per line; one JSON object per line on stdout.

Input is read as bytes and decoded here, so a line that is not UTF-8 is
checked with U+FFFD in place of the bad bytes (and says so) instead of
ending the command, and nothing but valid UTF-8 JSON is ever printed. A
line that cannot be checked (a malformed TextItem, non-finite or reversed
times, a policy pattern past its time budget) gets an `error` object and
the command goes on; the exit code is then 3 (incomplete) unless a finding
reached --fail-on. The models see many lines in one call (100,000 lines: one
call per batch of lines, not per line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

from liveinspect.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    add_fail_on,
    add_policy_option,
    add_text_model_options,
    component_settings,
)
from liveinspect.errors import LiveInspectError
from liveinspect.schema import Modality, Product, Severity, TextItem

# Lines per classifier call; a line longer than MAX_LINE_CHARS is refused (the
# normalizer keeps a few hundred bytes per character of what it checks).
BATCH_LINES = 256
MAX_LINE_CHARS = 200_000


@contextlib.contextmanager
def _open_lines(path: str | None) -> Iterator[BinaryIO | Iterator[bytes]]:
    if path in (None, "-"):
        buffer = getattr(sys.stdin, "buffer", None)
        # A text-only stdin (an embedding program's StringIO) is re-encoded; surrogates that
        # stand for undecodable bytes go back to being those bytes.
        yield buffer if buffer is not None else (line.encode("utf-8", "surrogateescape")
                                                 for line in sys.stdin)
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise LiveInspectError(f"cannot read {path}: {error}") from error
    with stream:
        yield stream


def _decode(raw: bytes) -> tuple[str, bool]:
    text = raw.decode("utf-8", errors="replace")
    return text.rstrip("\r\n"), "\ufffd" in text and "\ufffd".encode() not in raw


def _check_times(item: TextItem) -> None:
    for name in ("t_start", "t_end"):
        value = getattr(item, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise LiveInspectError(f"{name} must be a finite number >= 0, got {value}")
    if item.t_start is not None and item.t_end is not None and item.t_end < item.t_start:
        raise LiveInspectError(f"t_end {item.t_end} is before t_start {item.t_start}")
    for word in item.words or ():
        if not all(math.isfinite(t) and t >= 0 for t in word[1:]) or word[2] < word[1]:
            raise LiveInspectError(f"word timing {word!r} is not a finite, ordered pair of times >= 0")


def parse_line(text: str, modality: Modality) -> TextItem:
    """A plain text line, or a JSON TextItem object (`{"modality": "speech", "text": ...}`)."""
    if len(text) > MAX_LINE_CHARS:
        raise LiveInspectError(f"line has {len(text):,} characters; at most {MAX_LINE_CHARS:,} are "
                               "checked per line (split the text)")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            data = None
        if isinstance(data, dict):
            try:
                item = TextItem.model_validate(data)
            except ValueError as error:
                raise LiveInspectError(f"not a valid TextItem: {error}") from error
            _check_times(item)
            return item
    return TextItem(modality=modality, text=text, source="cli")


def run_text_command(lines: Iterable[bytes], *, analyzer, modality: Modality | str = Modality.title,
                     products: Sequence[Product] = (), batch_lines: int = BATCH_LINES) -> Iterator[dict]:
    """One JSON-ready dict per input line: findings and verdict, or an `error`.

    The lines are read as one broadcast selling `products` (their categories decide which efficacy
    claims are lawful); `batch_lines` lines go through the models in one call.
    """
    modality = Modality(modality)
    context = analyzer.open_context(products)
    batch: list[tuple[int, bytes]] = []

    def check(items: list[TextItem]) -> list[list | LiveInspectError]:
        try:
            return analyzer.observe_each(items, context=context)
        except LiveInspectError:  # e.g. a policy pattern past its budget: find the line, check the rest
            per_item: list[list | LiveInspectError] = []
            for item in items:
                try:
                    per_item.extend(analyzer.observe_each([item], context=context))
                except LiveInspectError as error:
                    per_item.append(error)
            return per_item

    def flush() -> Iterator[dict]:
        parsed = []
        for number, raw in batch:
            text, replaced = _decode(raw)
            try:
                parsed.append((number, parse_line(text, modality), replaced, None))
            except LiveInspectError as error:
                parsed.append((number, None, replaced, f"line {number}: {error}"))
        checked = iter(check([item for _, item, _, _ in parsed if item is not None]))
        for number, item, replaced, problem in parsed:
            result: dict = {"line": number}
            if item is not None:
                found = next(checked)
                if isinstance(found, LiveInspectError):
                    problem = f"line {number}: {found}"
                else:
                    graded = [analyzer.policy.grade(f) for f in found]
                    result.update({"text": item.text, "modality": item.modality.value,
                                   "findings": [f.model_dump(mode="json") for f in graded],
                                   "verdict": analyzer.policy.verdict(graded).model_dump(mode="json")})
            if replaced:
                result["warnings"] = ["the line is not valid UTF-8; bad bytes were replaced by U+FFFD"]
            if problem:
                result["error"] = problem
            yield result
        batch.clear()

    for number, raw in enumerate(lines, start=1):
        batch.append((number, raw))
        if len(batch) >= max(batch_lines, 1):
            yield from flush()
    yield from flush()


def cmd_text(args: argparse.Namespace) -> int:
    from liveinspect.pipelines.text import TextAnalyzer, TextOptions
    from liveinspect.policy import load_policy_dir

    policy = load_policy_dir(args.policy)
    options = component_settings(args).get("text") or TextOptions()
    analyzer = TextAnalyzer.from_options(options, policy=policy)
    return print_text_results(args, analyzer)


def print_text_results(args: argparse.Namespace, analyzer) -> int:
    """Check the lines of args.file (--modality, --products, --fail-on) and print one JSON object
    per line; the exit code: findings at --fail-on, else incomplete when a line failed, else clean."""
    from liveinspect.broadcast_file import load_products

    products = load_products(args.products) if args.products else []
    threshold = Severity(args.fail_on).rank
    reached = failed = False
    with _open_lines(args.file) as stream:
        # A file goes through the models many lines at a time; a person typing gets each line at once.
        interactive = getattr(stream, "isatty", lambda: False)()
        for result in run_text_command(stream, analyzer=analyzer, modality=args.modality,
                                       products=products, batch_lines=1 if interactive else BATCH_LINES):
            if "error" in result:
                failed = True
                print(f"liveinspect: incomplete: {result['error']}", file=sys.stderr)
            reached = reached or any(Severity(f["severity"]).rank >= threshold
                                     for f in result.get("findings", ()))
            # allow_nan=False: what is printed is JSON, never NaN/Infinity.
            print(json.dumps(result, ensure_ascii=False, allow_nan=False), flush=True)
    if reached:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if failed else EXIT_CLEAN


def add_text_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE and the flags `print_text_results` reads (also for `liveinspect edge text`)."""
    parser.add_argument("file", nargs="?", help="file with one text per line, or - for stdin")
    parser.add_argument("--modality", default="title",
                        choices=["title", "profile", "speech", "onscreen_text", "cover"])
    add_fail_on(parser)
    parser.add_argument("--products", help="YAML/JSON list of the products on sale (name, category, ...): "
                                           "their categories decide which efficacy claims are lawful")


def register(sub: argparse._SubParsersAction) -> None:
    text = sub.add_parser("text", help="check one text per line; prints one JSON object per line")
    add_text_arguments(text)
    add_policy_option(text)
    add_text_model_options(text)
    text.set_defaults(func=cmd_text)
