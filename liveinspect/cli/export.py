"""`liveinspect export`: ONNX export of the models a scan runs, with a manifest (and a bundle).

    liveinspect export --models all --out edge/ --int8 --bundle edge.tar

Runs where torch and every model's package are installed; the edge node
then needs only `liveinspect[edge]` and the folder or the tar.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from liveinspect.cli.common import EXIT_CLEAN
from liveinspect.errors import LiveInspectError


def cmd_export(args: argparse.Namespace) -> int:
    from liveinspect.export.bundle import pack_bundle
    from liveinspect.export.common import EvalData
    from liveinspect.export.runner import export_models

    options = {"whisper": args.whisper, "clip_model": args.clip_model,
               "clip_checkpoint": args.clip_checkpoint, "clip_text_dir": args.clip_text_dir}
    eval_data = EvalData.locate(args.eval_data) if args.eval_data else None
    if args.voice_data:
        if not (Path(args.voice_data) / "meta.csv").is_file():
            raise LiveInspectError(f"--voice-data {args.voice_data}: no meta.csv there (the In-the-Wild "
                                   "layout; recipes/synthetic/build_voice_corpus.py builds one)")
        eval_data = replace(eval_data or EvalData.locate(), voice=Path(args.voice_data))

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    manifest = export_models(args.models, args.out, int8=args.int8, eval_data=eval_data,
                             policy_dir=args.policy, options=options, progress=progress)
    if args.json:
        print(manifest.to_json())
    for name, model in manifest.models.items():
        int8 = model.int8.get("status", "?")
        reason = model.int8.get("reason", "")
        print(f"  {name:8s} {model.precision:5s} int8 {int8}: {reason}", file=sys.stderr)
    if args.bundle:
        tar = pack_bundle(args.out, args.bundle, chosen_precision_only=args.bundle_chosen_only)
        print(f"bundle: {tar} (export {manifest.digest})", file=sys.stderr)
    else:
        print(f"export: {args.out} (export {manifest.digest})", file=sys.stderr)
    return EXIT_CLEAN


def register(sub: argparse._SubParsersAction) -> None:
    from liveinspect.export.runner import FAMILIES

    export = sub.add_parser("export", help="export the models to ONNX for edge nodes (needs torch)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--models", nargs="+", default=["all"],
                        help=f"all, or some of: {', '.join(FAMILIES)} (default: all)")
    export.add_argument("--out", required=True, help="folder to write the models and manifest.json into")
    export.add_argument("--int8", action="store_true",
                        help="also quantize to int8 where each model's accuracy budget allows")
    export.add_argument("--bundle", help="pack the export into this tar for edge nodes")
    export.add_argument("--bundle-chosen-only", action="store_true",
                        help="bundle each model's default precision only (no fp32 graphs beside accepted "
                             "int8 ones: a third of the size)")
    export.add_argument("--whisper", help="Whisper weights to export (default: the packaged base)")
    export.add_argument("--clip-model", help="open_clip architecture to export (with --clip-checkpoint); "
                                             "'all' includes CLIP only when it is given")
    export.add_argument("--clip-checkpoint", help="local open_clip weights for --clip-model")
    export.add_argument("--clip-text-dir",
                        help="local Hugging Face text tower for multilingual open_clip models")
    export.add_argument("--policy", help="policy folder to bundle (default: the shipped policy)")
    export.add_argument("--eval-data", metavar="CHECKOUT",
                        help="a checkout holding tests/data/jfk.flac and examples/demo, for parity and "
                             "the int8 budgets (default: the one this package runs from)")
    export.add_argument("--voice-data", metavar="DIR",
                        help="labelled genuine/synthetic speech (meta.csv with a split column) for the "
                             "synthetic-voice model's int8 EER budget; without it AASIST stays fp32")
    export.add_argument("--json", action="store_true", help="print the manifest on stdout")
    export.add_argument("--quiet", action="store_true", help="no progress lines")
    export.set_defaults(func=cmd_export)
