"""What several commands share: exit codes, the demo's folder, model and scan options."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import types
import typing
from pathlib import Path

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.options import OptionField, option_fields
from liveinspect.schema import Severity

from liveinspect.cli.exit import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_INCOMPLETE  # noqa: F401


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (`nan`, `inf`, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def check_out_dir(path: str | os.PathLike) -> Path:
    """Make sure the report folder can be written before a long scan starts."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise LiveInspectError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise LiveInspectError(f"--out {out} is not writable: {error.strerror or error}") from error
    return out


def demo_dir() -> Path:
    """The shipped demo broadcast: $LIVEINSPECT_DEMO, else examples/demo beside the package."""
    configured = os.environ.get("LIVEINSPECT_DEMO")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[2] / "examples" / "demo"
    if not (folder / "broadcast.yaml").is_file():
        raise LiveInspectError(f"demo broadcast not found in {folder}; run from a checkout of the "
                               "repository or set LIVEINSPECT_DEMO to the folder holding broadcast.yaml")
    return folder


def _add_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, field: OptionField) -> None:
    """One flag from one option field: its type decides the kind of flag."""
    origin = typing.get_origin(field.type)
    args = [a for a in typing.get_args(field.type) if a is not type(None)]
    base = args[0] if origin in (typing.Union, types.UnionType) and len(args) == 1 else field.type
    common = {"dest": field.dest, "help": field.help}
    metavar = field.metavar or field.name.upper()
    if base is bool:
        # A flag turns a default around: --no-ocr for a default-on stage, --lexicon-only for off.
        parser.add_argument(field.flag, action="store_false" if field.default else "store_true",
                            default=None, **common)
    elif typing.get_origin(base) is tuple:
        parser.add_argument(field.flag, action="append", default=None, metavar=metavar, **common)
    elif typing.get_origin(base) is typing.Literal:
        parser.add_argument(field.flag, choices=list(typing.get_args(base)), default=None, **common)
    else:
        kind = base if base in (int, float) else str
        parser.add_argument(field.flag, type=kind, default=None, metavar=metavar, **common)


def _fields(components: typing.Iterable[str] | None = None) -> list[OptionField]:
    from liveinspect.pipelines.registry import component_options

    options = component_options()
    names = list(options) if components is None else list(components)
    return [field for name in names for field in option_fields(name, options[name])]


def add_text_model_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How texts are judged; shared by scan, demo, text and models."""
    for field in _fields(["text"]):
        _add_option(parser, field)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Which weights the analyzers load, one flag per option of every registered component
    (the text check, analyzers, frame stages); shared by scan, demo and models."""
    group = parser.add_argument_group("models")
    for field in _fields():
        _add_option(group, field)


def component_settings(args: argparse.Namespace) -> dict[str, typing.Any]:
    """Each component's options: its defaults with what the user gave on the command line."""
    from liveinspect.pipelines.registry import component_options

    given: dict[str, dict[str, typing.Any]] = {}
    for field in _fields():
        value = getattr(args, field.dest, None)
        if value is not None:
            given.setdefault(field.component, {})[field.name] = \
                tuple(value) if isinstance(value, list) else value
    options = component_options()
    return {name: options[name](**values) for name, values in given.items()}


def requested_weights(args: argparse.Namespace) -> dict[str, str]:
    """Component -> the weights the user named for it (fields declared with `weights=True`)."""
    requested = {}
    for field in _fields():
        value = getattr(args, field.dest, None)
        if field.weights and value:
            requested[field.component] = f"{field.flag} {value}"
    return requested


def check_requested_models(args: argparse.Namespace, inspector) -> None:
    """Weights the user named must load: a typo in --whisper is an error, not a quiet 'skipped'."""
    requested = requested_weights(args)
    for status in inspector.model_statuses():
        if status.state != "ran" and status.name in requested:
            raise LiveInspectError(f"{status.name}: {status.reason}")


def add_allow_private_urls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-private-urls", action="store_true",
                        help="let URLs (and the playlists, segments and redirects they lead to) reach "
                             "loopback and private-network addresses; off by default so a pasted URL "
                             "cannot reach this machine or its network (cloud metadata stays refused)")


def add_broadcast_arguments(parser: argparse.ArgumentParser) -> None:
    """SOURCE and the flags that describe or override a broadcast (`broadcast_from_args` reads them)."""
    parser.add_argument("source", nargs="?", help="file path or URL (file, http(s), rtmp, HLS)")
    parser.add_argument("--broadcast", help="YAML/JSON describing source, title, cover, profile, products")
    parser.add_argument("--title")
    parser.add_argument("--cover", help="cover image file")
    parser.add_argument("--profile", help="account profile text")
    parser.add_argument("--account", help="account name")
    parser.add_argument("--products", help="YAML/JSON list of products (name, category, price)")


def broadcast_from_args(args: argparse.Namespace):
    """The broadcast the flags describe: --broadcast FILE (or SOURCE alone), then each flag given."""
    from liveinspect.broadcast_file import load_broadcast, load_products
    from liveinspect.schema import Broadcast

    if args.broadcast:
        broadcast = load_broadcast(args.broadcast)
    elif args.source:
        broadcast = Broadcast(source=args.source)
    else:
        raise LiveInspectError("give a SOURCE (file or URL) or --broadcast FILE")
    updates = {key: value for key, value in (("source", args.source), ("title", args.title),
                                             ("cover", args.cover), ("profile", args.profile),
                                             ("account_name", args.account)) if value is not None}
    if args.products:
        updates["products"] = load_products(args.products)
    return broadcast.model_copy(update=updates)


def add_reading_options(parser: argparse.ArgumentParser, *, max_duration_help: str) -> None:
    """How a source is read and which analyzers run (`scan_options_from_args`, `analyzer_names`)."""
    parser.add_argument("--fps", type=positive_number, default=1.0,
                        help="frames sampled per second (default 1)")
    parser.add_argument("--window", type=positive_number, default=30.0,
                        help="seconds per segment (default 30)")
    parser.add_argument("--max-duration", type=positive_number, help=max_duration_help)
    add_allow_private_urls(parser)
    parser.add_argument("--analyzers", help="comma-separated analyzers to run, or none (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def scan_options_from_args(args: argparse.Namespace, *, progress: bool | None = None):
    from liveinspect.pipelines.orchestrator import ScanOptions

    return ScanOptions(window_s=args.window, fps=args.fps, max_duration=args.max_duration,
                       progress=not args.no_progress if progress is None else progress,
                       allow_private_urls=args.allow_private_urls)


def analyzer_names(args: argparse.Namespace) -> list[str] | None:
    """The analyzers --analyzers names; None (all) when not given. "none": only the title, profile
    and product list are checked."""
    if not args.analyzers:
        return None
    return [n.strip() for n in args.analyzers.split(",") if n.strip() not in ("", "none")]


def add_policy_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", help="folder with your own policy YAML files (default: the shipped one)")


def add_fail_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fail-on", default="low", choices=[s.value for s in Severity],
                        help="exit 1 when a finding reaches this severity (default: low)")


def add_scan_options(parser: argparse.ArgumentParser, *, out: str = "out/scan") -> None:
    parser.add_argument("--out", default=out, help="folder for report.json, report.html, frames/")
    parser.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    add_fail_on(parser)
    add_reading_options(parser, max_duration_help="stop after this many seconds of media; also bounds the "
                        "time spent waiting on the source to 1.5x that plus 30 s")
