"""Fine-tune the packaged AASIST's graph back end on the corpus (its convolutional encoder frozen), and
judge it by leave-one-generator-out beside the packaged AASIST.

    nice -n 19 python recipes/synthetic/finetune_aasist.py          # out/synthetic/voice-finetune

The issue's list has "the packaged AASIST as a baseline and as a front end ... fine-tuned"; the shipped
head reads AASIST's 160-d pooled output, and this asks whether retraining the graph attention layers
on the encoder's spectral and temporal nodes (23 x 64 and 29 x 64 per window, far more than the 160
numbers the head sees) finds a trace of vocoders it was not trained on. Fine-tuning the whole model
costs about 1 s per 4 s window per step on 2 cores (the encoder is nearly all of the compute), so the
encoder runs once per row, through ONNX Runtime (an encoder-only export), and the back end, cheap,
trains on the cached nodes.

Rows are train_voice.py's own (`extract_features`, the same cache folder layout, seed, room
impulses): every training clip clean plus three augmented copies, every test clip clean and after MP3
32k / AAC 32k / Opus 24k. Per cell: the packaged back end fine-tuned on the rows of every generator
but the held-out ones (generator-balanced cross-entropy, AdamW, a fixed number of epochs chosen
before any held-out result was seen), scored by its bona fide margin on the held-out generator's test
rows against every real test row. Writes `results.json` and `results.md`; ships nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_voice import FAMILIES, corpus_rows, room_impulses  # noqa: E402

from liveinspect.datasets.spoof import read_in_the_wild  # noqa: E402
from liveinspect.eval.spoof import REAL, format_table, per_generator  # noqa: E402
from liveinspect.models.voice import VoiceSpoofModel  # noqa: E402
from liveinspect.training.voice import _generator_weights  # noqa: E402


def encoder_nodes(windows: np.ndarray, cache: Path, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(spectral (n, 23, 64), temporal (n, 29, 64)) nodes of the packaged encoder for float16 `windows`,
    cached under `cache` by the windows' digest."""
    digest = hashlib.sha1(windows.tobytes()).hexdigest()[:16]
    path = cache / f"nodes-{digest}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return data["spectral"], data["temporal"]
    import onnxruntime as ort
    import torch
    from tqdm import tqdm

    from liveinspect.models.voice.weights import load_aasist

    model = load_aasist()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, waveform):
            return self.model.encode(waveform)

    graph = cache / "aasist-encoder.onnx"
    cache.mkdir(parents=True, exist_ok=True)
    if not graph.is_file():
        torch.onnx.export(Encoder(), (torch.zeros(2, windows.shape[1]),), str(graph), dynamo=False,
                          input_names=["waveform"], output_names=["spectral", "temporal"],
                          opset_version=17,
                          dynamic_axes={"waveform": {0: "batch"}, "spectral": {0: "batch"},
                                        "temporal": {0: "batch"}})
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    spectral, temporal = [], []
    for start in tqdm(range(0, len(windows), batch), desc="AASIST encoder nodes", unit="batch"):
        s, t = session.run(None, {"waveform": windows[start:start + batch].astype(np.float32)})
        spectral.append(s)
        temporal.append(t)
    spectral, temporal = np.concatenate(spectral), np.concatenate(temporal)
    np.savez(path, spectral=spectral, temporal=temporal)
    return spectral, temporal


def _fit(model, params, logits_of, label, generator, *, epochs: int, lr: float, weight_decay: float,
         seed: int, batch: int, progress: bool = False):
    """Train `params` of `model` by generator-balanced cross-entropy over `epochs` of shuffled batches;
    `logits_of(rows)` gives the logits of the rows (an index array). Label 1 = synthetic (AASIST's class
    1 is bona fide)."""
    import torch
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    weights = torch.from_numpy(_generator_weights(label, generator))
    target = torch.from_numpy((np.asarray(label) == 0).astype(np.int64))
    bar = tqdm(total=epochs * -(-len(target) // batch), desc="AASIST fine-tune", disable=not progress,
               mininterval=30)
    for _ in range(epochs):
        order = rng.permutation(len(target))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            index = torch.from_numpy(rows)
            loss = (torch.nn.functional.cross_entropy(logits_of(rows), target[index], reduction="none")
                    * weights[index]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            bar.update()
    bar.close()
    return model.train(False)


def finetune_back_end(spectral, temporal, label, generator, *, epochs: int, lr: float, seed: int,
                      batch: int = 32):
    """The packaged AASIST, its graph back end trained on (spectral, temporal) nodes; label 1 = synthetic."""
    import torch

    from liveinspect.models.voice.weights import load_aasist

    torch.manual_seed(seed)
    model = load_aasist()
    front = {id(p) for m in (model.first_bn, model.encoder) for p in m.parameters()}
    s_all, t_all = torch.from_numpy(spectral), torch.from_numpy(temporal)
    model.train(True)
    return _fit(model, [p for p in model.parameters() if id(p) not in front],
                lambda rows: model.classify(s_all[rows], t_all[rows])[1], label, generator, epochs=epochs,
                lr=lr, weight_decay=1e-3, seed=seed, batch=batch)


def finetune_whole(windows: np.ndarray, label, generator, *, epochs: int, lr: float, seed: int,
                   batch: int = 8, progress: bool = True):
    """The packaged AASIST fine-tuned end to end on (n, 64600) `windows` (label 1 = synthetic), its
    batch-norm statistics kept (batches of 8 are too small to re-estimate them). About 1 s per window
    per epoch on 2 cores: `--whole` runs it for the cells it names only."""
    import torch

    from liveinspect.models.voice.weights import load_aasist

    torch.manual_seed(seed)
    model = load_aasist()
    model.train(True)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.train(False)
    return _fit(model, list(model.parameters()),
                lambda rows: model(torch.from_numpy(windows[rows].astype(np.float32)))[1], label, generator,
                epochs=epochs, lr=lr, weight_decay=1e-4, seed=seed, batch=batch, progress=progress)


def _spoof_scores(logits_of, n: int, batch: int) -> np.ndarray:
    """Higher = more synthetic (minus the bona fide margin), `logits_of(slice)` batch by batch."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, n, batch):
            logits = logits_of(slice(start, start + batch))
            out.append((logits[:, 0] - logits[:, 1]).numpy())
    return np.concatenate(out)


def whole_spoof_scores(model, windows: np.ndarray, batch: int = 16) -> np.ndarray:
    """Spoof scores of the whole model on (n, 64600) windows."""
    import torch

    return _spoof_scores(lambda rows: model(torch.from_numpy(windows[rows].astype(np.float32)))[1],
                         len(windows), batch)


def spoof_scores(model, spectral, temporal, batch: int = 256) -> np.ndarray:
    """Spoof scores of the back end on encoder nodes."""
    import torch

    def logits_of(rows):
        return model.classify(torch.from_numpy(spectral[rows]), torch.from_numpy(temporal[rows]))[1]

    return _spoof_scores(logits_of, len(spectral), batch)


def held_out_cells(test) -> list[tuple[str, tuple[str, ...], str]]:
    """(cell name, generators left out of training, generator scored): each generator, then each
    family member with its whole family out (as train_voice.py's leave-one-out)."""
    cells = [(g, (g,), g) for g in dict.fromkeys(test.generator) if g != REAL]
    return cells + [(f"{family}:{g}", members, g) for family, members in FAMILIES.items() for g in members]


def score_cell(scores: np.ndarray, test, scored: str) -> dict:
    """{condition: {"head": metrics, "baseline": packaged AASIST's metrics}} on `scored`'s test rows."""
    head = per_generator(scores, test.label, test.generator, test.condition, generators=[scored])
    base = per_generator(-test.margin, test.label, test.generator, test.condition, generators=[scored])
    return {c: {"head": head[scored][c], "baseline": base[scored][c]} for c in head[scored]}


def run_whole(args, train, test, started: float) -> int:
    wanted = {c for c in args.whole.split(",") if c}
    cells = [cell for cell in held_out_cells(test) if cell[0] in wanted]
    if len(cells) != len(wanted):
        raise SystemExit(f"unknown cells {sorted(wanted - {c[0] for c in cells})}; "
                         f"known: {[c[0] for c in held_out_cells(test)]}")
    generator = np.asarray(train.generator)
    results = {}
    for name, held_out, scored in cells:
        keep = ~np.isin(generator, held_out)
        tuned = finetune_whole(train.windows[keep], train.label[keep], list(generator[keep]),
                               epochs=args.epochs, lr=args.lr, seed=args.seed)
        scores = whole_spoof_scores(tuned, test.windows)
        results[name] = score_cell(scores, test, scored)
        real = test.label == 0
        results[name]["real_test_rows_with_spoof_margin"] = int((scores[real] > 0).sum())
        print(f"{name:<24} whole model fine-tuned: " + " ".join(
            f"{c} {m['head']['eer']:.1%} (packaged {m['baseline']['eer']:.1%})"
            for c, m in results[name].items() if isinstance(m, dict))
            + f"; real rows with a spoof margin {results[name]['real_test_rows_with_spoof_margin']}, "
              f"{time.time() - started:.0f} s", flush=True)
    summary = {"whole_model": True, "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
               "rows": {"train": len(train.label), "test": len(test.label)}, "cells": results,
               "seconds": round(time.time() - started, 1)}
    (args.out / "results-whole.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("out/synthetic/voice"))
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice-finetune"))
    parser.add_argument("--features-cache", type=Path, default=Path("out/synthetic/voice-eval/cache"),
                        help="train_voice.py's cache (AASIST outputs and windows per clip)")
    parser.add_argument("--sdists", type=Path, default=Path("out/sdists"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-only", default="melgan_resynth",
                        help="generators never trained on (as train_voice.py's default)")
    parser.add_argument("--whole", default="", metavar="CELLS",
                        help="instead, fine-tune the whole model (encoder too) for these comma-separated "
                             "cells (e.g. melgan:melgan_resynth); --epochs and --lr then apply to it")
    args = parser.parse_args(argv)
    started = time.time()
    items = read_in_the_wild(args.data)
    test_only = {g for g in args.test_only.split(",") if g}
    _, _, train, test = corpus_rows(items, VoiceSpoofModel(head=None), cache=args.features_cache,
                                    rooms=room_impulses(args.sdists), seed=args.seed, test_only=test_only,
                                    keep_windows=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.whole:
        return run_whole(args, train, test, started)
    train_s, train_t = encoder_nodes(train.windows, args.out)
    test_s, test_t = encoder_nodes(test.windows, args.out)
    print(f"nodes: {len(train.label)} train rows, {len(test.label)} test rows, {time.time() - started:.0f} s",
          flush=True)

    train_generator = np.asarray(train.generator)
    results = {}
    for name, held_out, scored in held_out_cells(test):
        keep = ~np.isin(train_generator, held_out)
        tuned = finetune_back_end(train_s[keep], train_t[keep], train.label[keep],
                                  list(train_generator[keep]), epochs=args.epochs, lr=args.lr, seed=args.seed)
        results[name] = score_cell(spoof_scores(tuned, test_s, test_t), test, scored)
        worst = max(m["head"]["eer"] for m in results[name].values())
        print(f"{name:<24} fine-tuned back end worst EER {worst:.1%}  "
              f"(packaged {max(m['baseline']['eer'] for m in results[name].values()):.1%}), "
              f"{time.time() - started:.0f} s", flush=True)
    tuned = finetune_back_end(train_s, train_t, train.label, list(train.generator), epochs=args.epochs,
                              lr=args.lr, seed=args.seed)
    real = test.label == 0
    flagged = int((spoof_scores(tuned, test_s, test_t)[real] > 0).sum())
    table = format_table(results)
    print(table)
    print(f"real test rows with a spoof margin (trained on every generator): {flagged} of {int(real.sum())}")
    summary = {"epochs": args.epochs, "lr": args.lr, "seed": args.seed, "test_only": sorted(test_only),
               "rows": {"train": len(train.label), "test": len(test.label)},
               "leave_one_generator_out": results, "real_test_rows_with_spoof_margin": flagged,
               "seconds": round(time.time() - started, 1)}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text("```\n" + table + "\n```\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
