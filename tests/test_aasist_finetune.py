"""recipes/synthetic/finetune_aasist.py: the packaged AASIST's graph back end, trained on encoder nodes,
learns a separable task and scores with the right sign."""

from __future__ import annotations

import numpy as np
import pytest
from recipe_support import synthetic_recipe


@pytest.fixture(scope="module")
def finetune():
    with synthetic_recipe("finetune_aasist") as module:
        yield module


def test_back_end_learns_a_separable_task_on_encoder_nodes(finetune):
    rng = np.random.default_rng(0)
    n = 96
    label = np.array([0, 1] * (n // 2))
    # the packaged encoder's node shapes; real rows carry a raised band of spectral nodes, which the
    # packaged back end reads as synthetic (checked: untrained, this test fails), so it must be learnt
    spectral = np.abs(rng.normal(1.0, 0.3, (n, 23, 64))).astype(np.float32)
    temporal = np.abs(rng.normal(1.0, 0.3, (n, 29, 64))).astype(np.float32)
    spectral[label == 0, 15:20] += 1.5
    generator = ["bona-fide" if y == 0 else ("a" if i % 4 == 1 else "b") for i, y in enumerate(label)]
    train, test = np.arange(n) < 64, np.arange(n) >= 64
    model = finetune.finetune_back_end(spectral[train], temporal[train], label[train],
                                       [g for g, keep in zip(generator, train, strict=True) if keep],
                                       epochs=6, lr=1e-3, seed=0)
    scores = finetune.spoof_scores(model, spectral[test], temporal[test])
    assert scores[label[test] == 1].min() > scores[label[test] == 0].max()  # higher = more synthetic


def test_whole_model_fine_tune_moves_the_encoder_and_keeps_batch_norm_statistics(finetune):
    import torch

    from liveinspect.models.voice.weights import load_aasist

    rng = np.random.default_rng(1)
    windows = (0.05 * rng.standard_normal((4, 64_600))).astype(np.float16)
    packaged = load_aasist()
    tuned = finetune.finetune_whole(windows, np.array([0, 1, 0, 1]), ["bona-fide", "a", "bona-fide", "a"],
                                    epochs=1, lr=1e-3, seed=0, batch=2, progress=False)
    before, after = packaged.state_dict(), tuned.state_dict()
    first_conv = next(k for k in after if k.startswith("encoder.") and k.endswith("weight"))
    assert not torch.equal(before[first_conv], after[first_conv])  # the encoder is trained too
    stats = [k for k in after if k.endswith("running_mean")]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert finetune.whole_spoof_scores(tuned, windows).shape == (4,)
