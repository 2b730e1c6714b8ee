"""`liveinspect train avatar [--faces]` and `liveinspect eval avatar [--faces] [--leave-one-out]`.

Tiny PNGs in the real/ + fake/<generator>/ layout; a fake tower (the mean colour as the embedding)
and a fake face detector (a "face" where the top-left quadrant is bright) stand in for CLIP and
MTCNN, so these tests exercise the commands' own logic: splitting, counting the images without a
face, the crop head's card, the three scorers per generator, and the messages when no face is
found. The packaged probe (a JSON file) is the real one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import liveinspect.models.avatar
from liveinspect.cli import main
from liveinspect.models.avatar import load_avatar_head
from liveinspect.models.avatar.faces import FaceCrop

from avatar_support import FakeTower

REAL = (40, 60, 200)
FAKE = {"drawn": (200, 60, 40), "blend": (190, 150, 40)}


class FakeCropper:
    """A face where the top-left quadrant is bright (it survives JPEG and H.264); the crop is the
    bottom half, where the colour that tells real from synthetic is."""

    def __init__(self, **settings):
        self.min_face_size = settings.get("min_face_size")

    def largest(self, images):
        out = []
        for image in images:
            h, w = image.shape[:2]
            if image[: h // 2, : w // 2].mean() > 180:
                out.append(FaceCrop(crop=np.ascontiguousarray(image[h // 2:]), box=(0.0, 0.0, w / 2, h / 2),
                                    score=0.99, roll_deg=0.0))
            else:
                out.append(None)
        return out


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    import liveinspect.models.avatar as avatar_models
    import liveinspect.models.avatar.faces as faces

    monkeypatch.setattr(avatar_models, "ClipImageTower", FakeTower)
    monkeypatch.setattr(faces, "FaceCropper", FakeCropper)


def _folder(root, *, faces: bool, no_face_real: int = 0):
    """9 real and 6 + 6 synthetic 32 x 48 images; the first `no_face_real` real ones show no face."""
    rng = np.random.default_rng(0)

    def write(path, colour, face):
        image = np.empty((32, 48, 3), np.uint8)
        image[16:] = np.clip(np.array(colour) + rng.normal(0, 12, (16, 48, 3)), 0, 255)
        image[:16] = 0
        image[:16, :24] = 240 if face else 20
        image[:16, 24:] = np.array(colour) // 2
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)

    for i in range(9):
        write(root / "real" / f"r{i}.png", REAL, faces and i >= no_face_real)
    for name, colour in FAKE.items():
        for i in range(6):
            write(root / "fake" / name / f"{name}{i}.png", colour, faces)
    return root


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_train_faces_writes_a_crop_head_card_and_counts_the_images_without_a_face(tmp_path, capsys):
    data = _folder(tmp_path / "data", faces=True, no_face_real=2)  # r0, r1: in the training split
    code, err = _run(capsys, "train", "avatar", "--data", data, "--out", tmp_path / "crops", "--faces",
                     "--augment-copies", "0", "--no-progress")
    assert code == 0, err
    card = json.loads((tmp_path / "crops" / "model_card.json").read_text(encoding="utf-8"))
    assert card["architecture"]["input"] == "face_crops" and "MTCNN" in card["architecture"]["crops"]
    assert "reads the aligned crop" in card["notes"]
    # 6 real + 4 + 4 synthetic training images (every third is test), each once (no augmentation).
    assert card["data"]["rows_without_face_by_generator"] == {"bona-fide": 2}
    assert card["data"]["train_rows"] == 14 and card["data"]["train_crops"] == 12
    assert "2 rows without a face" in err and "bona-fide 4/6" in err
    head = load_avatar_head(tmp_path / "crops", input="face_crops")
    real_crop, fake_crop = FakeTower().embed([np.full((16, 48, 3), REAL, np.uint8),
                                              np.full((16, 48, 3), FAKE["drawn"], np.uint8)])
    assert head.probability(real_crop[None])[0] < 0.5 < head.probability(fake_crop[None])[0]

    code, err = _run(capsys, "train", "avatar", "--data", data, "--out", tmp_path / "frames",
                     "--augment-copies", "0", "--no-progress")
    assert code == 0, err
    assert load_avatar_head(tmp_path / "frames", input="whole_frames").input == "whole_frames"


def test_eval_faces_reports_every_generator_for_the_rule_both_heads_and_the_probe(tmp_path, capsys,
                                                                                   monkeypatch):
    data = _folder(tmp_path / "data", faces=True, no_face_real=2)
    for name, extra in (("crops", ["--faces"]), ("frames", [])):
        assert _run(capsys, "train", "avatar", "--data", data, "--out", tmp_path / name, "--augment-copies",
                    "0", "--no-progress", *extra)[0] == 0
    evaluate = ("eval", "avatar", "--data", data, "--out", tmp_path / "eval", "--faces", "--model",
                tmp_path / "frames", "--face-model", tmp_path / "crops", "--resamples", "20", "--cache",
                tmp_path / "cache")
    code, err = _run(capsys, *evaluate)
    assert code == 0, err
    assert "embedding test: 7 images, 21 rows (whole frames and MTCNN face crops)" in err
    assert "rule EER" in err and "frames head EER" in err and "crop head EER" in err and "probe EER" in err
    table = (tmp_path / "eval" / "table.txt").read_text(encoding="utf-8")
    for generator in FAKE:
        for condition in ("clean", "jpeg_q50", "h264"):
            assert any(line.split()[:2] == [generator, condition] for line in table.splitlines())
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    for generator in FAKE:
        cell = metrics["results"][generator]["clean"]
        assert set(cell) >= {"head", "frames_head", "crop_head", "baseline", "flagged", "face_share"}
        assert cell["face_share"] == 1.0 and cell["head"]["eer"] <= 0.1 and cell["crop_head"]["auc"] > 0.9
        # The crop head is scored on the rows with a face only: all 3 real test images have one.
        assert cell["crop_head"]["real"] == 3 and cell["head"]["real"] == 3
    assert metrics["face_share"]["bona-fide"]["clean"] == 1.0 and "faces found  bona-fide" in table
    assert set(metrics["real_flagged"]) == {"rule", "frames_head", "probe"}

    # Again from the cache: no image is embedded (a tower that is called would fail), same numbers.
    class Unused:
        def embed(self, images):
            raise AssertionError("the cached embeddings should have been used")

    monkeypatch.setattr(liveinspect.models.avatar, "ClipImageTower", Unused)
    code, err = _run(capsys, *evaluate)
    assert code == 0, err
    assert "embedding" not in err
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8")) == metrics
    monkeypatch.setattr(liveinspect.models.avatar, "ClipImageTower", FakeTower)

    code, err = _run(capsys, "eval", "avatar", "--data", data, "--out", tmp_path / "logo", "--faces",
                     "--leave-one-out", "--augment-copies", "0", "--resamples", "20", "--no-progress")
    assert code == 0, err
    logo = json.loads((tmp_path / "logo" / "metrics.json").read_text(encoding="utf-8"))["results"]
    assert set(logo) == set(FAKE)
    for generator in FAKE:
        assert set(logo[generator]) == {"clean", "jpeg_q50", "h264"}
        assert logo[generator]["clean"]["crop_head"] is not None
    assert "held-out" in err.splitlines()[0]


def test_a_folder_without_faces_gets_a_message_not_a_crash(tmp_path, capsys):
    data = _folder(tmp_path / "data", faces=False)
    code, err = _run(capsys, "train", "avatar", "--data", data, "--out", tmp_path / "crops", "--faces",
                     "--augment-copies", "0", "--no-progress")
    assert code == 2 and not (tmp_path / "crops").exists()
    assert "no face was found in any training image" in err and "drop --faces" in err
    assert "unexpected error" not in err

    code, err = _run(capsys, "eval", "avatar", "--data", data, "--out", tmp_path / "logo", "--faces",
                     "--leave-one-out", "--augment-copies", "0", "--resamples", "20", "--no-progress")
    assert code == 0, err
    assert "no face was found in any of the 21 test rows" in err
    assert "no crop head for a fold: no face was found in any training image" in err
    metrics = json.loads((tmp_path / "logo" / "metrics.json").read_text(encoding="utf-8"))
    cell = metrics["results"]["drawn"]["clean"]
    # No crop head: the rule is the whole-frame head row for row, and the crop-head cell is empty.
    assert cell["crop_head"] is None and cell["head"] == cell["frames_head"] and cell["face_share"] == 0.0
    assert " n/a " in (tmp_path / "logo" / "table.txt").read_text(encoding="utf-8")

    code, err = _run(capsys, "eval", "avatar", "--data", data, "--out", tmp_path / "x", "--face-model",
                     tmp_path / "crops", "--no-progress")
    assert code == 2 and "only with --faces" in err
