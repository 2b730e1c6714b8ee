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


def _face_cropper(args: argparse.Namespace):
    """MTCNN with the avatar analyzer's face settings unless the command line overrides them, so
    a head is trained and judged on the faces the analyzer will find."""
    from liveinspect.models.avatar.faces import FaceCropper
    from liveinspect.pipelines.avatar import AvatarOptions

    defaults = AvatarOptions()
    return FaceCropper(min_face_size=args.min_face_size or defaults.min_face_size,
                       max_side=defaults.max_side, weights_dir=args.face_weights)


def _embed(args: argparse.Namespace, part: str, items, tower, probe, *, cropper=None, **options):
    from liveinspect.training.avatar import cached_features, embed_items, embedding_key

    key = embedding_key(items, options, cropper)
    rows = len(items) * (len(options.get("conditions", ("clean",))) + options.get("augment_copies", 0))

    def compute():
        if not args.no_progress:
            print(f"embedding {part}: {len(items)} images, {rows} rows"
                  + (" (whole frames and MTCNN face crops)" if cropper is not None else ""), file=sys.stderr)
        return embed_items(items, tower, probe, cropper=cropper, **options)

    return cached_features(args.cache, part, key, compute)


def _face_counts(features) -> dict:
    """{generator: {"rows": n, "with_face": k}} over the embedded rows (an image under one condition)."""
    counts: dict[str, dict[str, int]] = {}
    for generator, face in zip(features.generator, features.face, strict=True):
        cell = counts.setdefault(generator, {"rows": 0, "with_face": 0})
        cell["rows"] += 1
        cell["with_face"] += int(face)
    return counts


def run_train_avatar(args: argparse.Namespace) -> int:
    from liveinspect.datasets.spoof import read_image_folders
    from liveinspect.errors import DataError
    from liveinspect.models.avatar import ClipImageTower, load_packaged_probe
    from liveinspect.training.avatar import (
        crop_training_problem,
        save_avatar_head,
        split_items,
        train_avatar_head,
        train_crop_head,
    )

    train_items, _ = split_items(read_image_folders(args.data))
    cropper = _face_cropper(args) if args.faces else None
    features = _embed(args, "train", train_items, ClipImageTower(), load_packaged_probe(), cropper=cropper,
                      augment_copies=args.augment_copies, seed=args.seed)
    if cropper is None:
        head = train_avatar_head(features, seed=args.seed)
        card = save_avatar_head(head, args.out, data={"source": str(args.data),
                                                      "train_images": len(train_items)},
                                metrics={"temperature": head.temperature}, notes=args.notes)
        print(f"saved {card.parent}: avatar head on {len(train_items)} images", file=sys.stderr)
        return 0
    counts = _face_counts(features)
    without = {g: c["rows"] - c["with_face"] for g, c in counts.items() if c["rows"] > c["with_face"]}
    crops = features.crops()
    summary = ", ".join(f"{g} {c['with_face']}/{c['rows']}" for g, c in counts.items())
    print(f"faces found (rows with a face / rows, by class): {summary}; {sum(without.values())} rows "
          "without a face are not used by the crop head", file=sys.stderr)
    problem = crop_training_problem(crops)
    if problem:
        raise DataError(f"{args.data}: {problem} (MTCNN, faces of at least {cropper.min_face_size} px), so "
                        "there is no face-crop head to train; drop --faces to train the whole-frame head, "
                        "lower --min-face-size, or add images where the face is large and frontal")
    head = train_crop_head(crops, l2=args.crop_l2, hold=args.crop_hold, seed=args.seed)
    notes = (args.notes + " " if args.notes else "") + (
        "This head reads the aligned crop of each image's largest MTCNN face, not whole frames; "
        f"{len(crops.label)} of {len(features.label)} training rows had a face.")
    card = save_avatar_head(head, args.out, input="face_crops", notes=notes,
                            data={"source": str(args.data), "train_images": len(train_items),
                                  "train_rows": len(features.label), "train_crops": len(crops.label),
                                  "rows_with_face_by_generator": counts,
                                  "rows_without_face_by_generator": without,
                                  "min_face_size": cropper.min_face_size},
                            metrics={"temperature": head.temperature, "l2": args.crop_l2,
                                     "bias_rule": f"no real crop of {args.crop_hold:.0%} of the training "
                                                  "images (held out by image) at or above 0.5"})
    print(f"saved {card.parent}: face-crop avatar head on {len(crops.label)} crops of "
          f"{len(train_items)} images", file=sys.stderr)
    return 0


def run_eval_avatar(args: argparse.Namespace) -> int:
    from liveinspect.datasets.spoof import read_image_folders
    from liveinspect.eval.spoof import false_positives, format_table, per_generator
    from liveinspect.models.avatar import ClipImageTower, load_avatar_head, load_packaged_probe
    from liveinspect.models.avatar.head import shipped_avatar_head_dir
    from liveinspect.training.avatar import (
        IMAGE_CONDITIONS,
        combined_probability,
        face_shares,
        format_crop_table,
        format_face_shares,
        leave_one_generator_out,
        score_systems,
        split_items,
    )

    if args.face_model and not args.faces:
        from liveinspect.errors import DataError

        raise DataError("--face-model is scored only with --faces (the crop head and the analyzer's rule)")
    train_items, test_items = split_items(read_image_folders(args.data))
    tower, probe = ClipImageTower(), load_packaged_probe()
    cropper = _face_cropper(args) if args.faces else None
    test = _embed(args, "test", test_items, tower, probe, cropper=cropper, conditions=IMAGE_CONDITIONS,
                  seed=args.seed + 1)
    results: dict = {"data": str(args.data), "conditions": list(IMAGE_CONDITIONS), "faces": args.faces,
                     "leave_one_out": args.leave_one_out}
    notes = []
    if args.leave_one_out:
        train = _embed(args, "train", train_items, tower, probe, cropper=cropper,
                       augment_copies=args.augment_copies, seed=args.seed)
        results["results"] = scored = leave_one_generator_out(
            train, test, crops=args.faces, crop_options={"l2": args.crop_l2, "hold": args.crop_hold},
            n_resamples=args.resamples, threshold=args.threshold, seed=args.seed)
        missing = {c["crop_head_missing"] for by in scored.values() for c in by.values()
                   if "crop_head_missing" in c}
        notes += [f"no crop head for a fold: {m}; the rule there is the whole-frame head"
                  for m in sorted(missing)]
    else:
        frame_head = load_avatar_head(args.model or shipped_avatar_head_dir(), input="whole_frames")
        crop_head = (load_avatar_head(args.face_model or shipped_avatar_head_dir("face_crops"),
                                      input="face_crops") if args.faces else None)
        if args.faces:
            scored = score_systems(frame_head, crop_head, test, threshold=args.threshold,
                                   n_resamples=args.resamples)
        else:
            ours = per_generator(frame_head.probability(test.x), test.label, test.generator, test.condition,
                                 n_resamples=args.resamples)
            theirs = per_generator(test.probe, test.label, test.generator, test.condition,
                                   n_resamples=args.resamples)
            scored = {g: {c: {"head": ours[g][c], "baseline": theirs[g][c]} for c in ours[g]} for g in ours}
        results["results"] = scored
        scorers = {"frames_head": frame_head.probability(test.x), "probe": test.probe}
        if crop_head is not None:
            scorers["rule"] = combined_probability(frame_head, crop_head, test)
        results["real_flagged"] = {name: false_positives(p, test.label, test.source, args.threshold)
                                   for name, p in scorers.items()}
    if args.faces:
        results["face_share"] = shares = face_shares(test)
        if not test.face.any():
            notes.append(f"no face was found in any of the {len(test.label)} test rows (MTCNN, faces of at "
                         f"least {cropper.min_face_size} px): the crop head scored nothing and the rule is "
                         "the whole-frame head on every row")
        table = (format_crop_table(scored, first="held-out" if args.leave_one_out else "generator")
                 + "\n" + format_face_shares(shares))
    else:
        table = format_table(scored, baseline="probe")
    results["notes"] = notes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "table.txt").write_text(table + "\n" + "".join(f"note: {n}\n" for n in notes), encoding="utf-8")
    print(table, file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"metrics: {out / 'metrics.json'}", file=sys.stderr)
    return 0


def _avatar_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", action="store_true",
                        help="train: the face-crop head (MTCNN's largest face of each image); eval: also "
                             "the crop head alone and the analyzer's rule (crop head where a face is "
                             "found, else the whole-frame head)")
    parser.add_argument("--min-face-size", type=int, default=None,
                        help="smallest face MTCNN looks for, in pixels (default: the avatar analyzer's)")
    parser.add_argument("--face-weights", help="MTCNN weights folder (default: facenet-pytorch's files)")
    parser.add_argument("--crop-l2", type=float, default=0.3, help="L2 penalty of the crop head")
    parser.add_argument("--crop-hold", type=float, default=0.3,
                        help="share of training images held out to set the crop head's bias")
    parser.add_argument("--cache", help="folder for embeddings, reused when the images and settings match")


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
    _avatar_options(avatar)
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
        else:
            _avatar_options(parser)
            parser.add_argument("--face-model", help="with --faces: face-crop head checkpoint folder "
                                                     "(default: the shipped one)")
        parser.set_defaults(func=run)
