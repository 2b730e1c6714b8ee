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


def finetune_back_end(spectral, temporal, label, generator, *, epochs: int, lr: float, seed: int,
                      batch: int = 32):
    """The packaged AASIST, its graph back end trained on (spectral, temporal) nodes; label 1 = synthetic."""
    import torch

    from liveinspect.models.voice.weights import load_aasist

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = load_aasist()
    front = {id(p) for m in (model.first_bn, model.encoder) for p in m.parameters()}
    params = [p for p in model.parameters() if id(p) not in front]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=1e-3)
    weights = torch.from_numpy(_generator_weights(label, generator))
    target = torch.from_numpy((label == 0).astype(np.int64))  # AASIST's class 1 is bona fide
    s_all, t_all = torch.from_numpy(spectral), torch.from_numpy(temporal)
    model.train(True)
    for _ in range(epochs):
        order = rng.permutation(len(label))
        for start in range(0, len(order), batch):
            pick = torch.from_numpy(order[start:start + batch])
            _, logits = model.classify(s_all[pick], t_all[pick])
            loss = (torch.nn.functional.cross_entropy(logits, target[pick], reduction="none")
                    * weights[pick]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.train(False)
    return model


def spoof_scores(model, spectral, temporal, batch: int = 256) -> np.ndarray:
    """Higher = more synthetic: minus the bona fide margin."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(spectral), batch):
            _, logits = model.classify(torch.from_numpy(spectral[start:start + batch]),
                                       torch.from_numpy(temporal[start:start + batch]))
            out.append((logits[:, 0] - logits[:, 1]).numpy())
    return np.concatenate(out)


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
    args = parser.parse_args(argv)
    started = time.time()
    items = read_in_the_wild(args.data)
    test_only = {g for g in args.test_only.split(",") if g}
    _, _, train, test = corpus_rows(items, VoiceSpoofModel(head=None), cache=args.features_cache,
                                    rooms=room_impulses(args.sdists), seed=args.seed, test_only=test_only)
    args.out.mkdir(parents=True, exist_ok=True)
    train_s, train_t = encoder_nodes(train.windows, args.out)
    test_s, test_t = encoder_nodes(test.windows, args.out)
    print(f"nodes: {len(train.label)} train rows, {len(test.label)} test rows, {time.time() - started:.0f} s",
          flush=True)

    cells = [(g, (g,), g) for g in dict.fromkeys(test.generator) if g != REAL]
    cells += [(f"{family}:{g}", members, g) for family, members in FAMILIES.items() for g in members]
    train_generator = np.asarray(train.generator)
    results = {}
    for name, held_out, scored in cells:
        keep = ~np.isin(train_generator, held_out)
        tuned = finetune_back_end(train_s[keep], train_t[keep], train.label[keep],
                                  list(train_generator[keep]), epochs=args.epochs, lr=args.lr, seed=args.seed)
        tuned_scores = spoof_scores(tuned, test_s, test_t)
        head = per_generator(tuned_scores, test.label, test.generator, test.condition, generators=[scored])
        base = per_generator(-test.margin, test.label, test.generator, test.condition, generators=[scored])
        results[name] = {c: {"head": head[scored][c], "baseline": base[scored][c]} for c in head[scored]}
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
