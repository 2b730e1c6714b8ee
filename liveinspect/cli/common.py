"""What several commands share: exit codes, the demo's folder, model and scan options."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from liveinspect.errors import LiveInspectError
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


def add_text_model_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How texts are judged; shared by scan, demo, text and models."""
    parser.add_argument("--lexicon-only", action="store_true",
                        help="text findings from the policy lexicon alone, without the claim classifier")
    parser.add_argument("--claim-model", help="claim classifier folder (n-gram checkpoint or transformers "
                                              "model; default: the shipped n-gram model)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Which weights the analyzers load; shared by scan, demo and models."""
    group = parser.add_argument_group("models")
    add_text_model_options(group)
    group.add_argument("--whisper", help="Whisper .pt checkpoint, CTranslate2 folder or model name "
                                         "(default: the packaged multilingual base)")
    group.add_argument("--language", help="force the spoken language (e.g. zh); default: detected per chunk")
    group.add_argument("--device", help="cuda, cuda:1 or cpu for speech (default: cuda when present)")
    group.add_argument("--clip-model",
                       help="open_clip model, e.g. ViT-B-32 (or $LIVEINSPECT_CLIP_MODEL)")
    group.add_argument("--clip-checkpoint", help="local open_clip weights for --clip-model")
    group.add_argument("--clip-text-dir",
                       help="local Hugging Face text tower for multilingual open_clip models")
    group.add_argument("--clip-head", action="append", default=[],
                       help="trained linear head on CLIP embeddings (repeatable)")
    group.add_argument("--exposure-model", help="nudenet ONNX detector file; off unless given (AGPL-3.0)")
    group.add_argument("--no-dedup", action="store_true",
                       help="read every sampled frame, even near-duplicates of the last one read")


def analyzer_settings(args: argparse.Namespace) -> dict[str, dict]:
    """Constructor arguments for each analyzer, from the --model options."""
    from liveinspect.pipelines.asr import TranscribeOptions

    frames = {key: value for key, value in (
        ("clip_model", args.clip_model), ("clip_checkpoint", args.clip_checkpoint),
        ("clip_text_model_dir", args.clip_text_dir), ("exposure_model", args.exposure_model))
        if value}
    if args.clip_head:
        frames["clip_heads"] = args.clip_head
    frames["skip_duplicates"] = not args.no_dedup
    return {"speech": {"weights": args.whisper, "device": args.device,
                       "options": TranscribeOptions(language=args.language)},
            "frames": frames}


def check_requested_models(args: argparse.Namespace, inspector) -> None:
    """Weights the user named must load: a typo in --whisper is an error, not a quiet 'skipped'."""
    requested = {"speech": args.whisper, "frames.clip": args.clip_model or args.clip_checkpoint,
                 "frames.exposure": args.exposure_model}
    for status in inspector.model_statuses():
        if status.state != "ran" and requested.get(status.name):
            raise LiveInspectError(f"{status.name}: {status.reason}")


def add_allow_private_urls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-private-urls", action="store_true",
                        help="let URLs (and the playlists, segments and redirects they lead to) reach "
                             "loopback and private-network addresses; off by default so a pasted URL "
                             "cannot reach this machine or its network (cloud metadata stays refused)")


def add_scan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/scan", help="folder for report.json, report.html, frames/")
    parser.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    parser.add_argument("--fail-on", default="low", choices=[s.value for s in Severity],
                        help="exit 1 when a finding reaches this severity (default: low)")
    parser.add_argument("--fps", type=positive_number, default=1.0,
                        help="frames sampled per second (default 1)")
    parser.add_argument("--window", type=positive_number, default=30.0,
                        help="seconds per segment (default 30)")
    parser.add_argument("--max-duration", type=positive_number,
                        help="stop after this many seconds of media; also bounds the time spent waiting "
                             "on the source to 1.5x that plus 30 s")
    add_allow_private_urls(parser)
    parser.add_argument("--analyzers", help="comma-separated analyzers to run, or none (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--policy", help="folder with your own policy YAML files (default: the shipped one)")
    add_model_options(parser)


