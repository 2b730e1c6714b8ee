"""Does a speaker embedding help? The shipped head's views plus a GE2E d-vector, leave one generator out.

    pip download --no-deps resemblyzer==0.1.4 -d out/sdists            # the wheel ships pretrained.pt
    nice -n 19 python recipes/synthetic/speaker_view.py                 # out/synthetic/voice-speaker

The issue lists speaker embeddings among the frozen representations to train heads on. Resemblyzer's
wheel ships a GE2E speaker encoder (3-layer LSTM over 40-band mel, 256-d, trained on real speakers):
neural voices may sit off the manifold of real speakers. Only its weight file is read, from the wheel
(`weights_only=True`, plain tensors: nothing is unpickled as code); the encoder is re-implemented here
in a few lines (its mel is librosa's power mel, 25/10 ms, no log; partial utterances of 160 frames,
1.3 per second, averaged and L2-normed). Rows are train_voice.py's own (the same cache). Prints, per
cell, the mean EER over the four conditions of the shipped views alone and with the d-vector, same
L2 and seed; and real test rows flagged at 0.5 by heads trained on every training clip.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_voice import CANDIDATES, FAMILIES, corpus_rows, room_impulses  # noqa: E402

from liveinspect.datasets.spoof import read_in_the_wild  # noqa: E402
from liveinspect.eval.spoof import false_positives  # noqa: E402
from liveinspect.models.voice import VoiceSpoofModel  # noqa: E402
from liveinspect.training.voice import leave_one_generator_out, train_voice_head  # noqa: E402

WHEEL = "Resemblyzer-0.1.4-py3-none-any.whl"
PARTIAL_FRAMES, PARTIAL_STEP = 160, 77  # resemblyzer: 1.6 s partials, 16000 / 1.3 / 160 frames apart


def ge2e_encoder(wheel: Path):
    """Resemblyzer's speaker encoder with the wheel's weights, read as plain tensors."""
    import torch

    with zipfile.ZipFile(wheel) as archive:
        state = torch.load(io.BytesIO(archive.read("resemblyzer/pretrained.pt")), map_location="cpu",
                           weights_only=True)["model_state"]

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = torch.nn.Linear(256, 256)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            embedding = torch.relu(self.linear(hidden[-1]))
            return embedding / torch.norm(embedding, dim=1, keepdim=True).clamp(min=1e-8)

    encoder = Encoder()
    encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    return encoder.train(False)


def d_vectors(windows: np.ndarray, encoder, batch: int = 64) -> np.ndarray:
    """(n, 256) d-vectors of float16 4 s windows, each the normalised mean over its partials."""
    import librosa
    import torch

    out = []
    for start in range(0, len(windows), batch):
        partials, owners = [], []
        for k, window in enumerate(windows[start:start + batch].astype(np.float32)):
            rms = float(np.sqrt(np.mean(window ** 2))) + 1e-8
            wav = window * (10 ** (-30 / 20) / rms)  # resemblyzer's -30 dBFS
            mel = librosa.feature.melspectrogram(y=wav, sr=16_000, n_fft=400, hop_length=160, n_mels=40).T
            for first in range(0, max(1, len(mel) - PARTIAL_FRAMES + 1), PARTIAL_STEP):
                partials.append(mel[first:first + PARTIAL_FRAMES])
                owners.append(k)
        with torch.no_grad():
            embedded = encoder(torch.from_numpy(np.stack(partials).astype(np.float32))).numpy()
        owners = np.array(owners)
        for k in range(owners.max() + 1):
            mean = embedded[owners == k].mean(0)
            out.append(mean / max(float(np.linalg.norm(mean)), 1e-8))
    return np.stack(out).astype(np.float32)


def with_d_vector(rows, vectors):
    from dataclasses import replace

    return replace(rows, x=np.concatenate([rows.x, vectors], axis=1), features=(*rows.features, "ge2e"))


def d_vector_only(rows):
    from dataclasses import replace

    return replace(rows, x=rows.x[:, -256:], features=("ge2e",))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("out/synthetic/voice"))
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice-speaker"))
    parser.add_argument("--features-cache", type=Path, default=Path("out/synthetic/voice-eval/cache"))
    parser.add_argument("--sdists", type=Path, default=Path("out/sdists"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    test_only = {"melgan_resynth", "smallvoc_resynth"}  # the shipped head's evaluation-only generators
    items = read_in_the_wild(args.data)
    _, _, train, test = corpus_rows(items, VoiceSpoofModel(head=None), cache=args.features_cache,
                                    rooms=room_impulses(args.sdists), seed=args.seed, test_only=test_only,
                                    keep_windows=True)
    encoder = ge2e_encoder(args.sdists / WHEEL)
    views = CANDIDATES["hidden+lfcc+phase+band"]
    train, test = train.select(views), test.select(views)
    plus_train = with_d_vector(train, d_vectors(train.windows, encoder))
    plus_test = with_d_vector(test, d_vectors(test.windows, encoder))
    print(f"d-vectors for {len(train.label)} + {len(test.label)} rows, {time.time() - started:.0f} s",
          flush=True)
    results = {}
    for name, (tr, te) in {"shipped views": (train, test), "shipped views + GE2E": (plus_train, plus_test),
                           "GE2E alone": (d_vector_only(plus_train), d_vector_only(plus_test))}.items():
        logo = leave_one_generator_out(tr, te, seed=args.seed, families=FAMILIES, l2=0.3, hidden=32,
                                       n_resamples=100)
        head, _ = train_voice_head(tr, seed=args.seed, l2=0.3, hidden=32)
        flagged = false_positives(head.probability(te.x), te.label, te.source, 0.5)
        means = {cell: round(float(np.mean([c["head"]["eer"] for c in conds.values()])), 4)
                 for cell, conds in logo.items()}
        results[name] = {"mean_eer": means, "real_test_rows_flagged": len(flagged)}
        print(f"{name:<22} " + " ".join(f"{c} {e:.1%}" for c, e in means.items())
              + f" | real flagged {len(flagged)}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
