"""Image and audio classifiers end to end: imagefolder / audiofolder -> train -> eval report."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from liveinspect.cli import main
from liveinspect.errors import CheckpointError, DataError
from liveinspect.models.media import MediaClassifier, mel_filterbank
from liveinspect.models.media.convnet import SmallConvNet
from liveinspect.training.media_tasks import audio_tensor


def _imagefolder(root: Path, per_class: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for label, channel in (("blue_set", 2), ("red_banner", 0)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (40, 48, 3), dtype=np.uint8)
            pixels[8:32, 8:40, channel] = 230  # a coloured block somewhere in the middle
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def _audiofolder(root: Path, per_class: int = 12) -> Path:
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    for label, hz in (("hum", 200.0), ("whistle", 3000.0)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pitch = hz * (1 + 0.05 * rng.random())
            wave_ = 0.5 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.normal(size=t.size)
            with wave.open(str(root / label / f"{i}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(16000)
                out.writeframes((np.clip(wave_, -1, 1) * 32767).astype("<i2").tobytes())
    return root


def test_mel_filterbank_and_spectrogram_shapes() -> None:
    bank = mel_filterbank()
    assert bank.shape == (40, 201) and float(bank.min()) >= 0.0
    assert np.all(bank.max(axis=1) > 0.4)  # every filter has a peak
    spectrogram = audio_tensor(np.zeros(8000, dtype=np.float32), seconds=1.0)
    assert spectrogram.shape == (1, 40, 101)
    assert SmallConvNet(1, 3)(spectrogram.unsqueeze(0)).shape == (1, 3)


def test_train_and_eval_image_classifier(tmp_path: Path) -> None:
    data = _imagefolder(tmp_path / "images")
    model = tmp_path / "model"
    assert main(["train", "image", "--data", str(data), "--out", str(model), "--epochs", "25",
                 "--no-progress"]) == 0
    card = json.loads((model / "model_card.json").read_text())
    assert card["task"] == "image" and card["labels"] == ["blue_set", "red_banner"]
    assert card["data"]["kind"] == "imagefolder" and card["data"]["rows"] == 32
    report = tmp_path / "report"
    assert main(["eval", "image", "--model", str(model), "--data", str(data), "--out", str(report),
                 "--negative-label", "blue_set", "--resamples", "50"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    system = metrics["systems"]["image-classifier"]
    assert system["accuracy"] >= 0.9 and system["detection"]["roc_auc"] >= 0.9
    assert (report / "roc.png").is_file() and (report / "reliability-image-classifier.png").is_file()


def test_train_audio_classifier_from_audiofolder(tmp_path: Path) -> None:
    data = _audiofolder(tmp_path / "audio")
    model = tmp_path / "model"
    assert main(["train", "audio", "--data", str(data), "--out", str(model), "--epochs", "20",
                 "--seconds", "1", "--no-progress"]) == 0
    classifier = MediaClassifier(model)
    assert classifier.labels == ["hum", "whistle"]
    files = sorted(str(p) for p in data.rglob("*.wav"))
    predicted = classifier.predict_proba(files).argmax(axis=1)
    truth = [0 if "/hum/" in f else 1 for f in files]
    assert np.mean(predicted == np.array(truth)) >= 0.9
    # The same model exported and run by ONNX Runtime gives the same probabilities.
    classifier.export_onnx()
    edge = MediaClassifier(model, backend="onnx")
    assert edge.backend.kind == "onnx"
    np.testing.assert_allclose(edge.predict_proba(files[:4]), classifier.predict_proba(files[:4]), atol=1e-5)


def test_media_classifier_rejects_other_checkpoints(tmp_path: Path) -> None:
    from liveinspect.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path, {"w": torch.zeros(1)}, {"task": "claims", "labels": ["a"],
                                                       "architecture": {}, "data": {}, "metrics": {}})
    with pytest.raises(DataError, match="unknown media task"):
        MediaClassifier(tmp_path)
    save_checkpoint(tmp_path, {"w": torch.zeros(1)}, {"task": "image", "labels": ["a"],
                                                       "architecture": {"name": "other"}, "data": {},
                                                       "metrics": {}})
    with pytest.raises(CheckpointError, match="small-convnet"):
        MediaClassifier(tmp_path)
