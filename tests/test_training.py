"""Trainer, checkpoints (safetensors + model card) and every kind of local `datasets` input."""

from __future__ import annotations

import json
import pickle
from importlib import metadata
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from liveinspect.errors import CheckpointError, DataError
from liveinspect.datasets import (
    data_sha256,
    dataset_kind,
    label_ids,
    load_local_dataset,
    stratified_split,
)
from liveinspect.models.checkpoint import (
    CARD_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from liveinspect.training.trainer import TensorExamples, TrainConfig, Trainer

ROWS = [{"text": "三天祛斑", "label": "false_efficacy"}, {"text": "这款面霜很滋润", "label": "compliant"},
        {"text": "全网第一", "label": "absolute_term"}, {"text": "第一次下单的朋友", "label": "compliant"}]

# --- datasets inputs ----------------------------------------------------------


def _check_text_rows(dataset) -> None:
    assert len(dataset) == 4
    assert dataset["text"] == [r["text"] for r in ROWS]
    ids, names = label_ids(dataset)
    assert names == ["absolute_term", "compliant", "false_efficacy"]
    assert ids == [2, 1, 0, 1]


def test_csv_jsonl_parquet(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(ROWS)
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
                                      encoding="utf-8")
    frame.to_parquet(tmp_path / "d.parquet")
    for name, kind in (("d.csv", "csv"), ("d.jsonl", "json"), ("d.parquet", "parquet")):
        assert dataset_kind(tmp_path / name) == kind
        _check_text_rows(load_local_dataset(tmp_path / name))


def test_load_from_disk_dataset_and_dataset_dict(tmp_path: Path) -> None:
    import datasets

    single = datasets.Dataset.from_list(ROWS)
    single.save_to_disk(str(tmp_path / "single"))
    assert dataset_kind(tmp_path / "single") == "disk"
    _check_text_rows(load_local_dataset(tmp_path / "single"))
    datasets.DatasetDict({"train": single, "test": single.select([0])}).save_to_disk(str(tmp_path / "dict"))
    _check_text_rows(load_local_dataset(tmp_path / "dict"))
    assert len(load_local_dataset(tmp_path / "dict", split="test")) == 1
    with pytest.raises(DataError, match="splits"):
        load_local_dataset(tmp_path / "dict", split="validation")


def test_imagefolder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label, count in (("banner", 2), ("product", 3)):
        (tmp_path / label).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 255, (8, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    assert dataset_kind(tmp_path) == "imagefolder"
    dataset = load_local_dataset(tmp_path)
    ids, names = label_ids(dataset)
    assert names == ["banner", "product"] and sorted(ids) == [0, 0, 1, 1, 1]
    assert np.asarray(dataset[0]["image"]).shape == (8, 10, 3)


def test_audiofolder(tmp_path: Path) -> None:
    for label in ("bona_fide", "spoof"):
        (tmp_path / label).mkdir()
        for i in range(2):
            with wave.open(str(tmp_path / label / f"{i}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(16000)
                out.writeframes((np.sin(np.arange(1600) * (i + 1) / 10) * 8000).astype("<i2").tobytes())
    assert dataset_kind(tmp_path) == "audiofolder"
    dataset = load_local_dataset(tmp_path)
    ids, names = label_ids(dataset)
    assert names == ["bona_fide", "spoof"] and sorted(ids) == [0, 0, 1, 1]
    from liveinspect.media.audio import load_audio

    assert load_audio(dataset[0]["audio"]).shape == (1600,)


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        dataset_kind(tmp_path / "missing.jsonl")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="unsupported"):
        dataset_kind(tmp_path / "notes.txt")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError):
        load_local_dataset(tmp_path / "empty.jsonl")
    (tmp_path / "d.jsonl").write_text('{"text": "x", "label": "spam"}\n')
    with pytest.raises(DataError, match="spam"):
        label_ids(load_local_dataset(tmp_path / "d.jsonl"), labels=["compliant"])


def test_data_hash_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n')
    first = data_sha256(path)
    path.write_text('{"text": "b"}\n')
    assert data_sha256(path) != first and len(first) == 64


def test_stratified_split_is_seeded_and_keeps_every_label() -> None:
    labels = [0] * 20 + [1] * 10 + [2] * 3
    train, val = stratified_split(labels, 0.2, seed=5)
    assert sorted(train + val) == list(range(33)) and not set(train) & set(val)
    assert sorted(labels[i] for i in val) == [0, 0, 0, 0, 1, 1, 2]
    assert stratified_split(labels, 0.2, seed=5) == (train, val)
    assert stratified_split(labels, 0.2, seed=6) != (train, val)


# --- trainer ----------------------------------------------------------------------


class TinyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _blobs(rows: int = 240, seed: int = 0) -> TensorExamples:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(rows) % 3
    centers = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return TensorExamples({"x": centers[labels] + torch.randn(rows, 2, generator=generator)}, labels)


def _fit(config: TrainConfig, data: TensorExamples | None = None):
    torch.manual_seed(config.seed)
    model = TinyMLP()
    data = data or _blobs()
    trainer = Trainer(model, config)
    result = trainer.fit(data.subset(list(range(200))), data.subset(list(range(200, 240))))
    return trainer, result


def test_trainer_learns_separable_blobs() -> None:
    trainer, result = _fit(TrainConfig(epochs=15, learning_rate=0.05, progress=False))
    assert result.history[-1].val_accuracy > 0.95
    assert result.history[0].train_loss > result.history[-1].train_loss


def test_trainer_is_deterministic_with_a_seed() -> None:
    first, _ = _fit(TrainConfig(epochs=3, seed=7, progress=False))
    second, _ = _fit(TrainConfig(epochs=3, seed=7, progress=False))
    other, _ = _fit(TrainConfig(epochs=3, seed=8, progress=False))
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name])
    assert not torch.equal(first.model.net[0].weight, other.model.net[0].weight)


def test_gradient_accumulation_matches_a_larger_batch() -> None:
    # Two accumulated half batches give the mean gradient of the whole batch.
    big, _ = _fit(TrainConfig(epochs=2, batch_size=40, learning_rate=0.01, progress=False))
    accumulated, _ = _fit(TrainConfig(epochs=2, batch_size=20, grad_accum_steps=2, learning_rate=0.01,
                                      progress=False))
    for name, tensor in big.model.state_dict().items():
        assert torch.allclose(tensor, accumulated.model.state_dict()[name], atol=1e-5)


def test_early_stopping_restores_the_best_epoch() -> None:
    data = _blobs()
    # Random labels: validation loss cannot keep improving, so training stops early.
    shuffled = torch.randint(0, 3, (240,), generator=torch.Generator().manual_seed(1))
    noisy = TensorExamples(data.inputs, shuffled)
    trainer, result = _fit(TrainConfig(epochs=200, patience=3, learning_rate=0.05, progress=False), noisy)
    assert result.stopped_early and len(result.history) < 200
    best = result.history[result.best_epoch - 1]
    assert best.val_loss == pytest.approx(min(h.val_loss for h in result.history))
    val = noisy.subset(list(range(200, 240)))
    restored = nn.functional.cross_entropy(trainer.predict_logits(val), val.labels).item()
    assert restored == pytest.approx(best.val_loss, rel=1e-5)


def test_mismatched_rows_rejected() -> None:
    with pytest.raises(DataError):
        TensorExamples({"x": torch.zeros(3, 2)}, torch.zeros(4, dtype=torch.long))


# --- checkpoints -----------------------------------------------------------------

CARD = {"task": "toy", "labels": ["a", "b", "c"], "architecture": {"name": "tiny-mlp"},
        "data": {"path": "x.jsonl", "sha256": "0" * 64, "rows": 3}, "metrics": {"val_accuracy": 0.5}}


def test_safetensors_round_trip_and_card(tmp_path: Path) -> None:
    model = TinyMLP()
    save_checkpoint(tmp_path, model.state_dict(), CARD)
    tensors, card = load_checkpoint(tmp_path, task="toy", framework="pt")
    restored = TinyMLP()
    restored.load_state_dict(tensors)
    arrays, _ = load_checkpoint(tmp_path, task="toy")  # numpy by default: no torch needed to read one
    assert all(isinstance(a, np.ndarray) for a in arrays.values()) and arrays.keys() == tensors.keys()
    x = torch.randn(5, 2)
    assert torch.equal(model(x), restored(x))
    assert card["labels"] == ["a", "b", "c"] and card["metrics"] == {"val_accuracy": 0.5}
    assert card["data"]["sha256"] == "0" * 64
    assert card["format"] == "liveinspect-checkpoint/1"
    assert card["versions"]["torch"] == metadata.version("torch")
    assert {"python", "torch", "safetensors", "datasets", "numpy"} <= set(card["versions"])
    assert card["created"][:2] == "20" and "T" in card["created"]
    assert card["weights"]["file"] == WEIGHTS_FILE and len(card["weights"]["sha256"]) == 64
    assert read_card(tmp_path) == card


def test_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="lacks"):
        save_checkpoint(tmp_path / "x", {}, {"task": "toy"})
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "ok", TinyMLP().state_dict(), CARD)
    with pytest.raises(CheckpointError, match="not 'claims'"):
        load_checkpoint(tmp_path / "ok", task="claims")
    weights = tmp_path / "ok" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(tmp_path / "ok")


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    # A pickle that would run code if unpickled, dressed up as the weights file with a matching card.
    class Boom:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").write_text, ("ran",))

    save_checkpoint(tmp_path, TinyMLP().state_dict(), CARD)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(pickle.dumps(Boom()))
    card = json.loads((tmp_path / CARD_FILE).read_text())
    from liveinspect.models.checkpoint import file_sha256

    card["weights"]["sha256"] = file_sha256(weights)
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision runs on CUDA only; no GPU here")
def test_mixed_precision_on_cuda() -> None:
    trainer, result = _fit(TrainConfig(epochs=15, learning_rate=0.05, device="cuda", progress=False))
    assert trainer._amp and result.history[-1].val_accuracy > 0.95
    assert next(trainer.model.parameters()).dtype == torch.float32  # master weights stay float32
