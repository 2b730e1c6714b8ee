"""Features, leave-one-generator-out evaluation and the shipped voice head, from the built corpus.

    nice -n 19 python recipes/synthetic/build_voice_corpus.py        # out/synthetic/voice
    nice -n 19 python recipes/synthetic/train_voice.py                 # results + head

Writes `out/synthetic/voice-eval/results.json` and `results.md`, and the head
(`--head-out`, default liveinspect/models/weights/voice-head). To retrain on
In-the-Wild, point `--data` at its folder (meta.csv); for ASVspoof use
`liveinspect train voice --protocol ...`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from liveinspect.datasets.spoof import read_in_the_wild
from liveinspect.eval.spoof import false_positives, format_table
from liveinspect.models.voice import VoiceSpoofModel
from liveinspect.training.voice import (
    CONDITIONS,
    extract_features,
    leave_one_generator_out,
    load_features,
    save_features,
    save_voice_head,
    train_voice_head,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("out/synthetic/voice"))
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice-eval"))
    parser.add_argument("--head-out", type=Path, default=Path("liveinspect/models/weights/voice-head"))
    parser.add_argument("--augment-copies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    items = read_in_the_wild(args.data)
    train_items = [i for i in items if i.split != "test"]
    test_items = [i for i in items if i.split == "test"]
    model = VoiceSpoofModel(head=None)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / "features.npz"
    if cache.is_file():  # features are the slow part (AASIST on every window); heads retrain in seconds
        train, test = load_features(cache)
    else:
        train = extract_features(train_items, model, conditions=("clean",),
                                 augment_copies=args.augment_copies, seed=args.seed)
        test = extract_features(test_items, model, conditions=tuple(CONDITIONS), seed=args.seed + 1)
        save_features(cache, train, test)
    print(f"features: {len(train.label)} train rows, {len(test.label)} test rows, "
          f"{time.time() - started:.0f} s", flush=True)
    logo = leave_one_generator_out(train, test, seed=args.seed)
    table = format_table(logo)
    print(table, flush=True)

    head, log = train_voice_head(train, seed=args.seed)
    probability = head.probability(test.x)
    threshold = 0.5
    flagged = false_positives(probability, test.label, test.source, threshold)
    real_scores = probability[test.label == 0]
    summary = {
        "rows": {"train": len(train.label), "test": len(test.label)},
        "clips": {"train": len(train_items), "test": len(test_items)},
        "leave_one_generator_out": logo,
        "shipped_head": {"threshold": threshold, "temperature": log.temperature,
                         "real_test_rows_flagged": flagged,
                         "real_test_max_score": round(float(real_scores.max()), 3),
                         "synthetic_test_detected_share": round(float(np.mean(probability[test.label == 1]
                                                                              >= threshold)), 3)},
        "seconds": round(time.time() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text("```\n" + table + "\n```\n", encoding="utf-8")
    counts: dict[str, int] = {}
    for item in train_items:
        counts[item.generator] = counts.get(item.generator, 0) + 1
    card_path = save_voice_head(
        head, args.head_out,
        data={"corpus": "recipes/synthetic/build_voice_corpus.py (shipped-package sources only)",
              "train_clips_by_generator": counts, "augmented_copies_per_clip": args.augment_copies,
              "seed": args.seed},
        metrics={"leave_one_generator_out": logo, "shipped_threshold": summary["shipped_head"]},
        notes=("Trained on a few minutes of audio: AMI meeting crops (real) against espeak-ng English "
               "and Mandarin, one Piper VITS voice and Griffin-Lim resynthesis of AMI (synthetic). That is "
               "far too little, and too few generators, to expect it to catch commercial neural TTS or "
               "voice cloning; "
               "retrain it on ASVspoof 2019/2021/5 or In-the-Wild with `liveinspect train voice`. "
               "Its bias is set so that p = 0.5 flags none of the held-out real training clips; on the "
               "real test clips (other AMI meetings, the pyannote sample, JFK) it still flagged "
               f"{len(flagged)} of {int((test.label == 0).sum())} rows at 0.5, the 1961 JFK recording "
               "among them: a score is a reason to look, not a verdict."))
    print(f"head -> {card_path}; real test rows flagged at {threshold}: {len(flagged)}; "
          f"{summary['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
