"""`liveinspect train voice|avatar` and `liveinspect eval voice|avatar`: synthetic-media detectors.

Data for `voice`: a folder with an In-the-Wild style `meta.csv` (the shipped
corpus from recipes/synthetic has one), or an ASVspoof protocol file with
`--protocol FILE --audio DIR` (2019 LA, 2021 LA/DF, ASVspoof 5). Data for
`avatar`: `real/` + `fake/[<generator>/]` image folders or the FaceForensics++
layout. Rows whose `split` is "test" (or, without a split column, every third
speaker/file) are held out for evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path


def _voice_items(args: argparse.Namespace):
    from liveinspect.datasets.spoof import read_asvspoof_protocol, read_in_the_wild

    if args.protocol:
        if not args.audio:
            from liveinspect.errors import DataError

            raise DataError("--protocol needs --audio DIR (the folder holding the flac files)")
        return read_asvspoof_protocol(args.protocol, args.audio)
    return read_in_the_wild(args.data)


def _split(items):
    """(train, test): the data's own split column, else every third speaker (by a stable hash)."""
    if any(item.split for item in items):
        return [i for i in items if i.split != "test"], [i for i in items if i.split == "test"]
    test = [i for i in items if zlib.crc32((i.speaker or i.path.stem).encode()) % 3 == 2]
    chosen = {id(i) for i in test}
    return [i for i in items if id(i) not in chosen], test


def run_train_voice(args: argparse.Namespace) -> int:
    from liveinspect.models.voice import VoiceSpoofModel
    from liveinspect.training.voice import extract_features, save_voice_head, train_voice_head

    train_items, _ = _split(_voice_items(args))
    model = VoiceSpoofModel(head=None)
    features = extract_features(train_items, model, augment_copies=args.augment_copies, seed=args.seed,
                                progress=not args.no_progress)
    head, log = train_voice_head(features, seed=args.seed, epochs=args.epochs)
    counts: dict[str, int] = {}
    for item in train_items:
        counts[item.generator] = counts.get(item.generator, 0) + 1
    card = save_voice_head(head, args.out, data={"source": str(args.protocol or args.data),
                                                 "train_clips_by_generator": counts,
                                                 "augmented_copies_per_clip": args.augment_copies},
                           metrics={"temperature": log.temperature, "best_epoch": log.epochs},
                           notes=args.notes)
    print(f"saved {card.parent}: voice head on {len(train_items)} clips ({len(counts)} classes/generators), "
          f"temperature {log.temperature:.2f}", file=sys.stderr)
    return 0


def run_eval_voice(args: argparse.Namespace) -> int:
    from liveinspect.eval.spoof import false_positives, format_table, per_generator
    from liveinspect.models.voice import VoiceSpoofModel, load_voice_head
    from liveinspect.models.voice.head import shipped_voice_head_dir
    from liveinspect.training.voice import CONDITIONS, extract_features, leave_one_generator_out

    train_items, test_items = _split(_voice_items(args))
    model = VoiceSpoofModel(head=None)
    conditions = tuple(args.conditions.split(",")) if args.conditions else tuple(CONDITIONS)
    test = extract_features(test_items, model, conditions=conditions, seed=args.seed + 1,
                            progress=not args.no_progress)
    results: dict = {"data": str(args.protocol or args.data), "conditions": list(conditions)}
    if args.leave_one_out:
        train = extract_features(train_items, model, augment_copies=args.augment_copies, seed=args.seed,
                                 progress=not args.no_progress)
        results["leave_one_generator_out"] = logo = leave_one_generator_out(train, test, seed=args.seed)
        table = format_table(logo)
    else:
        head = load_voice_head(args.model or shipped_voice_head_dir())
        probability = head.probability(test.select(head.features).x)  # the views this head reads
        ours = per_generator(probability, test.label, test.generator, test.condition,
                             n_resamples=args.resamples)
        theirs = per_generator(-test.margin, test.label, test.generator, test.condition,
                               n_resamples=args.resamples)
        results["per_generator"] = logo = {g: {c: {"head": ours[g][c], "baseline": theirs[g][c]}
                                               for c in ours[g]} for g in ours}
        results["real_flagged"] = false_positives(probability, test.label, test.source, args.threshold)
        table = format_table(logo)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "table.txt").write_text(table + "\n", encoding="utf-8")
    print(table, file=sys.stderr)
    print(f"metrics: {out / 'metrics.json'}", file=sys.stderr)
    return 0


def _avatar_split(items):
    counters: dict[str, int] = {}
    train, test = [], []
    for item in items:
        k = counters[item.generator] = counters.get(item.generator, -1) + 1
        (test if k % 3 == 2 else train).append(item)
    return train, test


def run_train_avatar(args: argparse.Namespace) -> int:
    from liveinspect.datasets.spoof import read_image_folders
    from liveinspect.models.avatar import ClipImageTower, load_packaged_probe
    from liveinspect.training.avatar import embed_items, save_avatar_head, train_avatar_head

    train_items, _ = _avatar_split(read_image_folders(args.data))
    features = embed_items(train_items, ClipImageTower(), load_packaged_probe(),
                           augment_copies=args.augment_copies, seed=args.seed)
    head = train_avatar_head(features, seed=args.seed)
    card = save_avatar_head(head, args.out, data={"source": str(args.data), "train_images": len(train_items)},
                            metrics={"temperature": head.temperature}, notes=args.notes)
    print(f"saved {card.parent}: avatar head on {len(train_items)} images", file=sys.stderr)
    return 0


def run_eval_avatar(args: argparse.Namespace) -> int:
    from liveinspect.datasets.spoof import read_image_folders
    from liveinspect.eval.spoof import format_table, per_generator
    from liveinspect.models.avatar import ClipImageTower, load_avatar_head, load_packaged_probe
    from liveinspect.models.avatar.head import shipped_avatar_head_dir
    from liveinspect.training.avatar import IMAGE_CONDITIONS, embed_items, leave_one_generator_out

    items = read_image_folders(args.data)
    train_items, test_items = _avatar_split(items)
    tower, probe = ClipImageTower(), load_packaged_probe()
    test = embed_items(test_items, tower, probe, conditions=IMAGE_CONDITIONS, seed=args.seed + 1)
    if args.leave_one_out:
        train = embed_items(train_items, tower, probe, augment_copies=args.augment_copies, seed=args.seed)
        results = leave_one_generator_out(train, test)
    else:
        head = load_avatar_head(args.model or shipped_avatar_head_dir())
        ours = per_generator(head.probability(test.x), test.label, test.generator, test.condition,
                             n_resamples=args.resamples)
        theirs = per_generator(test.probe, test.label, test.generator, test.condition,
                               n_resamples=args.resamples)
        results = {g: {c: {"head": ours[g][c], "baseline": theirs[g][c]} for c in ours[g]} for g in ours}
    table = format_table(results, baseline="probe")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"data": str(args.data), "results": results},
                                                 indent=2) + "\n",
                                      encoding="utf-8")
    (out / "table.txt").write_text(table + "\n", encoding="utf-8")
    print(table, file=sys.stderr)
    return 0


def _common(parser: argparse.ArgumentParser, *, voice: bool) -> None:
    if voice:
        parser.add_argument("--data", help="folder with meta.csv (In-the-Wild layout; the shipped corpus)")
        parser.add_argument("--protocol", help="ASVspoof protocol/key file (2019 LA, 2021 LA/DF, ASVspoof 5)")
        parser.add_argument("--audio", help="with --protocol: the folder holding the flac files")
    else:
        parser.add_argument("--data", required=True, help="real/ + fake/ image folders, or FaceForensics++")
    parser.add_argument("--augment-copies", type=int, default=3 if voice else 1,
                        help="augmented copies of each training clip/image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")


def register_train(tasks: argparse._SubParsersAction) -> None:
    voice = tasks.add_parser("voice", help="the synthetic-voice head on frozen AASIST + LFCC features")
    _common(voice, voice=True)
    voice.add_argument("--out", required=True, help="checkpoint folder to write")
    voice.add_argument("--epochs", type=int, default=300)
    voice.add_argument("--notes", default="", help="what the model card should say about the data")
    voice.set_defaults(func=run_train_voice)
    avatar = tasks.add_parser("avatar", help="the synthetic-avatar linear head on frozen CLIP image features")
    _common(avatar, voice=False)
    avatar.add_argument("--out", required=True, help="checkpoint folder to write")
    avatar.add_argument("--notes", default="", help="what the model card should say about the data")
    avatar.set_defaults(func=run_train_avatar)


def register_eval(tasks: argparse._SubParsersAction) -> None:
    for name, run in (("voice", run_eval_voice), ("avatar", run_eval_avatar)):
        parser = tasks.add_parser(name, help=f"EER/AUC per generator and re-encoding: the {name} head vs the "
                                             "packaged baseline")
        _common(parser, voice=name == "voice")
        parser.add_argument("--model", help="head checkpoint folder (default: the shipped head)")
        parser.add_argument("--out", required=True, help="folder for metrics.json and table.txt")
        parser.add_argument("--leave-one-out", action="store_true",
                            help="train a head without each generator in turn and score it on that generator")
        parser.add_argument("--resamples", type=int, default=500, help="bootstrap resamples")
        parser.add_argument("--threshold", type=float, default=0.5, help="for the list of real clips flagged")
        if name == "voice":
            parser.add_argument("--conditions", help="comma-separated: clean,mp3_32k,aac_32k,opus_24k")
        parser.set_defaults(func=run)
