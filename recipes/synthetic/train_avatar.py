"""Leave-one-generator-out evaluation and the shipped avatar heads, from the built image set.

    nice -n 19 python recipes/synthetic/build_avatar_corpus.py
    nice -n 19 python recipes/synthetic/train_avatar.py

Every third image of each class/generator is test; test images are scored
clean, after JPEG q50 and after an H.264 intra frame, by heads trained
without their generator and by the packaged AI-image probe on the same rows.
Each (degraded) image is also searched for faces by MTCNN; the largest face's
aligned crop goes through the same tower. Three scorers per row: the
analyzer's rule (the crop head where a face was found, else the whole-frame
head), the whole-frame head alone, and the probe; the table also shows the
crop head alone on the rows with a face (`training.avatar.score_systems`,
which `liveinspect eval avatar --faces` prints too). The crop head ships
(`--crop-head-out`) only if the rule beats the probe on held-out morphs, the
one generator whose faces MTCNN finds, and flags no more real rows than the
whole-frame head; the recipe says which and why. Embeddings are cached under
`--out/cache`, keyed like `liveinspect eval avatar --cache` keys them (the images with their sizes and
times, the conditions and augmentation, the face settings: `training.avatar.embedding_key`), so a
rerun on the same images skips the tower and the detector and a changed image is embedded again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from liveinspect.datasets.spoof import read_image_folders
from liveinspect.eval.spoof import false_positives, format_table
from liveinspect.models.avatar import ClipImageTower, load_packaged_probe
from liveinspect.pipelines.avatar import AvatarOptions
from liveinspect.training.avatar import (
    IMAGE_CONDITIONS,
    ImageFeatures,
    cached_features,
    combined_probability,
    embed_items,
    embedding_key,
    format_crop_table,
    leave_one_generator_out,
    save_avatar_head,
    split_items,
    train_avatar_head,
    train_crop_head,
)

NOTES = ("Trained on ~250 images: LFW-subset faces and crops of five sample photos (real) against drawn "
         "cartoon faces, ray-cast shaded heads and blended face morphs (synthetic). None of these is a "
         "modern generator (no GAN, diffusion or commercial digital human, nothing neural); the head is a "
         "smoke test of the method, retrain it on real data (`liveinspect train avatar --data "
         "real_fake_folder`).")
CROP_NOTES = (" This head reads the aligned crop of the largest MTCNN face; its synthetic training crops "
              "are almost all face morphs (MTCNN finds few drawn or shaded faces), so it is a morph "
              "detector on these data, not a general avatar detector.")
def compare_crop_heads(train: ImageFeatures, test: ImageFeatures) -> str:
    """Crop-head settings side by side: held-out morph EER per condition (the rule) and the real test
    rows the shipped-style rule flags, for L2 x the held-out-image bias rule (hold 0: no rule)."""
    from liveinspect.eval.spoof import per_generator

    lines = ["crop L2  bias hold  held-out morph EER clean/jpeg/h264  real rows flagged (of "
             f"{int((test.label == 0).sum())})"]
    for l2 in (0.01, 0.1, 0.3):
        for hold in (0.0, 0.3):
            kept = train.subset(np.asarray(train.generator) != "morph")
            rows = test.subset((np.asarray(test.generator) == "morph") | (test.label == 0))
            p = combined_probability(train_avatar_head(kept), train_crop_head(kept.crops(), l2=l2, hold=hold),
                                     rows)
            cells = per_generator(p, rows.label, rows.generator, rows.condition, generators=["morph"],
                                  n_resamples=50)["morph"]
            everything = combined_probability(train_avatar_head(train),
                                              train_crop_head(train.crops(), l2=l2, hold=hold), test)
            flagged = int(((everything >= 0.5) & (test.label == 0)).sum())
            eers = "/".join(f"{cells[c]['eer']:.1%}" for c in IMAGE_CONDITIONS)
            lines.append(f"{l2:<8} {hold:<10} {eers:<34} {flagged}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("out/synthetic/avatar"))
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/avatar-eval"))
    parser.add_argument("--head-out", type=Path, default=Path("liveinspect/models/weights/avatar-head"))
    parser.add_argument("--crop-head-out", type=Path,
                        default=Path("liveinspect/models/weights/avatar-head-faces"))
    parser.add_argument("--augment-copies", type=int, default=1)
    parser.add_argument("--crop-l2", type=float, default=0.3, help="L2 penalty of the crop head")
    parser.add_argument("--crop-hold", type=float, default=0.3,
                        help="share of training images held out to set the crop head's bias")
    parser.add_argument("--no-save", action="store_true", help="evaluate only; write no head")
    parser.add_argument("--compare", action="store_true",
                        help="also print crop-head settings side by side (L2 x the bias rule)")
    args = parser.parse_args(argv)
    started = time.time()
    train_items, test_items = split_items(read_image_folders(args.data))
    probe = load_packaged_probe()
    # The analyzer's detector settings, so the crops trained on are the crops a scan makes.
    scan = AvatarOptions()
    from liveinspect.models.avatar.faces import FaceCropper

    cropper = FaceCropper(min_face_size=scan.min_face_size, max_side=scan.max_side)  # loads on first use
    towers: list[ClipImageTower] = []  # loaded only if an embedding is not cached

    def embedded(part: str, items, **options) -> ImageFeatures:
        def compute():
            towers or towers.append(ClipImageTower())
            return embed_items(items, towers[0], probe, cropper=cropper, **options)
        return cached_features(args.out / "cache", part, embedding_key(items, options, cropper), compute)

    args.out.mkdir(parents=True, exist_ok=True)
    train = embedded("train", train_items, augment_copies=args.augment_copies)
    test = embedded("test", test_items, conditions=IMAGE_CONDITIONS, seed=1)
    crop_options = {"l2": args.crop_l2, "hold": args.crop_hold}
    if args.compare:
        print(compare_crop_heads(train, test))
    logo = leave_one_generator_out(train, test, crops=True, crop_options=crop_options)
    table = format_crop_table(logo)
    print(table)
    head = train_avatar_head(train)
    crop_head = train_crop_head(train.crops(), **crop_options)
    real = test.label == 0
    scorers = {"rule": combined_probability(head, crop_head, test), "frames_head": head.probability(test.x),
               "probe": test.probe}
    flagged = {name: false_positives(p, test.label, test.source, 0.5) for name, p in scorers.items()}
    morph = [cell for cell in logo.get("morph", {}).values()]
    beats_probe = bool(morph) and all(c["head"]["eer"] < c["baseline"]["eer"] for c in morph)
    no_more_flagged = len(flagged["rule"]) <= len(flagged["frames_head"])
    ship_crops = beats_probe and no_more_flagged
    summary = {"images": {"train": len(train_items), "test": len(test_items)},
               "faces_found": {"train": f"{int(train.face.sum())} of {len(train.label)} rows",
                               "test": f"{int(test.face.sum())} of {len(test.label)} rows"},
               "leave_one_generator_out": logo,
               "shipped_head": {"threshold": 0.5, "temperature": head.temperature,
                                "crop_head_temperature": crop_head.temperature,
                                "real_test_rows": int(real.sum()),
                                "real_test_rows_flagged": {k: len(v) for k, v in flagged.items()},
                                "real_flagged_rows": flagged,
                                "synthetic_detected_share": {k: round(float(np.mean(p[~real] >= 0.5)), 3)
                                                             for k, p in scorers.items()}},
               "crop_head": {"ships": ship_crops, "beats_probe_on_held_out_morphs": beats_probe,
                             "flags_no_more_real_rows": no_more_flagged},
               "seconds": round(time.time() - started, 1)}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text("```\n" + table + "\n```\n", encoding="utf-8")
    print(format_table({g: {c: {"head": v["frames_head"], "baseline": v["baseline"]}
                            for c, v in by.items()} for g, by in logo.items()}, baseline="probe"))
    print(json.dumps({k: v for k, v in summary["shipped_head"].items() if k != "real_flagged_rows"}),
          json.dumps(summary["crop_head"]), f"{summary['seconds']} s")
    if args.no_save:
        return 0
    data = {"corpus": "recipes/synthetic/build_avatar_corpus.py", "train_images": len(train_items)}
    frames_logo = {g: {c: {"head": v["frames_head"], "baseline": v["baseline"]} for c, v in by.items()}
                   for g, by in logo.items()}
    save_avatar_head(head, args.head_out, data=data, notes=NOTES,
                     metrics={"leave_one_generator_out": frames_logo,
                              "shipped": {**summary["shipped_head"], "real_flagged_rows": None}})
    if ship_crops:
        save_avatar_head(crop_head, args.crop_head_out, input="face_crops",
                         data={**data, "train_crops": int(train.face.sum())}, notes=NOTES + CROP_NOTES,
                         metrics={"leave_one_generator_out": logo, "rule": "crop head where a face is "
                                  "found, else the whole-frame head", **summary["crop_head"]})
    else:
        print(f"crop head not shipped: {json.dumps(summary['crop_head'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
