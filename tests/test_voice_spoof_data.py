"""Dataset adapters parse their public layouts (tiny fixtures written here); EER per generator."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from liveinspect.datasets.spoof import (
    generators,
    parse_asvspoof_line,
    read_asvspoof_protocol,
    read_image_folders,
    read_in_the_wild,
)
from liveinspect.errors import DataError
from liveinspect.eval.spoof import detection_metrics, per_generator


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"fLaC")
    return path


def test_asvspoof2019_la(tmp_path):
    audio = tmp_path / "ASVspoof2019_LA_train" / "flac"
    for utt in ("LA_T_1138215", "LA_T_1271820", "LA_T_9999999"):
        _touch(audio / f"{utt}.flac")
    protocol = tmp_path / "ASVspoof2019.LA.cm.train.trn.txt"
    protocol.write_text("LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1271820 - A01 spoof\n"
                        "LA_0080 LA_T_9999999 - A04 spoof\nLA_0081 LA_T_0000404 - A02 spoof\n")
    items = read_asvspoof_protocol(protocol, audio.parent, split="train")
    assert [(i.label, i.generator, i.speaker) for i in items] == [
        (0, "bona-fide", "LA_0079"), (1, "A01", "LA_0079"), (1, "A04", "LA_0080")]  # no audio for the 4th
    assert items[0].path == audio / "LA_T_1138215.flac" and generators(items) == ["A01", "A04"]


def test_asvspoof2021_and_5_lines():
    la21 = parse_asvspoof_line("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval")
    assert (la21["key"], la21["attack"], la21["codec"]) == ("spoof", "A07", "alaw")
    df21 = parse_asvspoof_line("LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval "
                               "traditional_vocoder")
    assert (df21["utterance"], df21["codec"], df21["attack"]) == ("DF_E_2000026", "mp3m4a", "A09")
    five = parse_asvspoof_line("T_4850 T_0000000000 F - - - AC3 A05 spoof -")
    assert (five["speaker"], five["key"], five["attack"]) == ("T_4850", "spoof", "A05")
    real5 = parse_asvspoof_line("T_1138 T_0000000001 M mp3 4 10 - - bonafide -")
    assert (real5["key"], real5["codec"]) == ("bonafide", "mp3")
    with pytest.raises(DataError, match="no bonafide/spoof key"):
        parse_asvspoof_line("LA_0001 LA_T_1 - A01 maybe")


def test_in_the_wild_meta(tmp_path):
    (tmp_path / "meta.csv").write_text("file,speaker,label\n0.wav,Alec Guinness,spoof\n"
                                       "1.wav,Alec Guinness,bona-fide\n", encoding="utf-8")
    items = read_in_the_wild(tmp_path)
    assert [(i.path.name, i.label, i.generator, i.speaker) for i in items] == [
        ("0.wav", 1, "spoof", "Alec Guinness"), ("1.wav", 0, "bona-fide", "Alec Guinness")]
    (tmp_path / "meta.csv").write_text("file,label\n0.wav,fake\n", encoding="utf-8")
    with pytest.raises(DataError, match="not bona-fide or spoof"):
        read_in_the_wild(tmp_path)


def test_image_folders_and_faceforensics(tmp_path):
    picture = Image.new("RGB", (8, 8))
    for rel in ("a/real/r1.png", "a/fake/stylegan/f1.png", "a/fake/sd15/f2.jpg", "a/fake/f3.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        picture.save(tmp_path / rel)
    items = read_image_folders(tmp_path / "a")
    assert sorted((i.label, i.generator) for i in items) == [(0, "bona-fide"), (1, "fake"), (1, "sd15"),
                                                             (1, "stylegan")]
    for rel in ("ff/original_sequences/youtube/c23/frames/000/0001.png",
                "ff/manipulated_sequences/Deepfakes/c23/frames/000_003/0001.png",
                "ff/manipulated_sequences/FaceSwap/c40/frames/000_003/0001.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        picture.save(tmp_path / rel)
    ff = read_image_folders(tmp_path / "ff")
    assert [(i.label, i.generator, i.codec) for i in ff] == [(0, "bona-fide", "c23"), (1, "Deepfakes", "c23"),
                                                            (1, "FaceSwap", "c40")]
    with pytest.raises(DataError, match="expected real/ and fake/"):
        read_image_folders(tmp_path)


def test_eer_per_generator_with_intervals():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, 60)
    easy = rng.normal(4, 1, 30)  # well separated
    hard = rng.normal(0, 1, 30)  # indistinguishable
    scores = np.concatenate([real, easy, hard])
    label = np.array([0] * 60 + [1] * 60)
    gen = ["bona-fide"] * 60 + ["easy"] * 30 + ["hard"] * 30
    cond = ["clean"] * 120
    results = per_generator(scores, label, gen, cond, n_resamples=200)
    assert results["easy"]["clean"]["eer"] < 0.05 and results["hard"]["clean"]["eer"] > 0.3
    cell = results["hard"]["clean"]
    assert cell["eer_low"] <= cell["eer"] <= cell["eer_high"]
    assert cell["real"] == 60 and cell["synthetic"] == 30
    assert detection_metrics(label, -scores, n_resamples=50)["auc"] < 0.5
