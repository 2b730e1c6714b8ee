"""Claim classifiers: n-gram features, the PyTorch model and its ONNX twin, the shipped model,
the transformers classifier on a tiny BERT built here, and training from the seed data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from liveinspect.backends import BackendOptions
from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.claims import (
    DEFAULT_CLAIM_MODEL_DIR,
    NgramClaimClassifier,
    NgramFeaturizer,
    OnnxNgramClaimClassifier,
    load_claim_classifier,
    load_default_claim_classifier,
    normalize_for_classifier,
)
from liveinspect.pipelines.text import CLASSIFIER_LABELS, ClaimClassifier, TextAnalyzer
from liveinspect.schema import FindingKind

DATA_DIR = Path(__file__).resolve().parents[1] / "liveinspect" / "data" / "claims"
N_LABELS = len(CLASSIFIER_LABELS)
NEAR_MISSES = {"这款面霜很滋润": "compliant", "三天祛斑": "false_efficacy",
               "第一次下单的朋友": "compliant", "全网第一": "absolute_term"}


@pytest.fixture(scope="module")
def shipped() -> NgramClaimClassifier:
    return load_default_claim_classifier()


def test_featurizer_is_stable_and_normalizes() -> None:
    featurizer = NgramFeaturizer(buckets=1 << 12)
    ids, weights = featurizer.transform(["全网第一", "ＡＢ"])
    assert ids.shape == weights.shape and ids.dtype == np.int64 and weights.dtype == np.float32
    # 4 unigrams + 3 bigrams + 2 trigrams, all distinct (barring a hash collision in 4096 buckets)
    assert (ids[0] > 0).sum() == 9
    assert np.linalg.norm(weights[0]) == pytest.approx(1.0)
    assert np.all(ids[1][weights[1] == 0] == 0)  # padding is bucket 0 with weight 0
    # full width, Traditional characters and case fold to the same features
    same = featurizer.transform(["ＡＢ 這款", "ab 这款"])
    assert np.array_equal(same[0][0], same[0][1]) and np.array_equal(same[1][0], same[1][1])
    assert normalize_for_classifier("  Ａdd  ME\n") == "add me"
    assert "w:wechat" in featurizer.features("add me on wechat")
    again = NgramFeaturizer(buckets=1 << 12).transform(["全网第一", "ＡＢ"])
    assert np.array_equal(again[0], ids)


def test_ngram_classifier_satisfies_protocol_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    classifier = NgramClaimClassifier.new(CLASSIFIER_LABELS, NgramFeaturizer(buckets=1 << 10))
    torch.nn.init.normal_(classifier.model.table.weight)
    classifier.temperature = 1.7
    assert isinstance(classifier, ClaimClassifier)
    texts = ["三天祛斑", "add me on WeChat", ""]
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (3, N_LABELS) and np.allclose(probabilities.sum(axis=1), 1.0)
    classifier.save(tmp_path, data={"path": "x"}, metrics={"validation": {"macro_f1": 0.5}})
    restored = NgramClaimClassifier.load(tmp_path)
    assert restored.labels == CLASSIFIER_LABELS and restored.temperature == pytest.approx(1.7)
    assert np.array_equal(restored.predict_proba(texts), probabilities)
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["task"] == "claims" and card["architecture"]["featurizer"]["buckets"] == 1 << 10
    assert restored.version == card["weights"]["sha256"][:12]
    assert load_claim_classifier(tmp_path).version == restored.version
    assert classifier.predict_proba([]).shape == (0, N_LABELS)


def test_onnx_export_matches_pytorch(tmp_path: Path, shipped: NgramClaimClassifier) -> None:
    import onnxruntime  # noqa: F401 - the edge runtime this test is about

    shipped.export_onnx(tmp_path / "model.onnx")
    for name in ("model.safetensors", "model_card.json"):
        (tmp_path / name).write_bytes((DEFAULT_CLAIM_MODEL_DIR / name).read_bytes())
    edge = OnnxNgramClaimClassifier(tmp_path)
    assert isinstance(edge, ClaimClassifier) and edge.labels == shipped.labels
    texts = [json.loads(line)["text"] for line in (DATA_DIR / "test.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(edge.predict_logits(texts), shipped.predict_logits(texts), atol=1e-5)
    np.testing.assert_allclose(edge.predict_proba(texts[:1]), shipped.predict_proba(texts[:1]), atol=1e-6)
    with pytest.raises(CheckpointError, match="missing"):
        OnnxNgramClaimClassifier(tmp_path, tmp_path / "absent.onnx")


def test_shipped_onnx_export_is_of_the_shipped_weights(shipped: NgramClaimClassifier) -> None:
    edge = load_default_claim_classifier(backend="onnx")
    assert isinstance(edge, OnnxNgramClaimClassifier) and edge.backend.kind == "onnx"
    assert edge.version == shipped.version and edge.labels == shipped.labels
    texts = [json.loads(line)["text"] for line in (DATA_DIR / "test.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(edge.predict_logits(texts), shipped.predict_logits(texts), atol=1e-5)
    assert load_claim_classifier(DEFAULT_CLAIM_MODEL_DIR, backend="onnx").name == "claims-ngram-onnx"
    assert (DEFAULT_CLAIM_MODEL_DIR / "model.onnx").stat().st_size < 5_000_000


def test_onnx_export_of_other_weights_is_refused(tmp_path: Path) -> None:
    classifier = NgramClaimClassifier.new(CLASSIFIER_LABELS, NgramFeaturizer(buckets=1 << 8))
    classifier.save(tmp_path, data={"path": "x"}, metrics={})
    NgramClaimClassifier.load(tmp_path).export_onnx(tmp_path / "model.onnx")
    assert OnnxNgramClaimClassifier(tmp_path).predict_proba(["x"]).shape == (1, N_LABELS)
    torch.nn.init.normal_(classifier.model.table.weight)
    classifier.save(tmp_path, data={"path": "x"}, metrics={})  # new weights, old model.onnx
    with pytest.raises(CheckpointError, match="exported from other weights"):
        load_claim_classifier(tmp_path, backend="onnx")
    with pytest.raises(CheckpointError, match="missing"):
        load_claim_classifier(tmp_path, backend=BackendOptions(kind="onnx", precision="int8"))


def test_shipped_model_card_and_near_misses(shipped: NgramClaimClassifier) -> None:
    card = json.loads((DEFAULT_CLAIM_MODEL_DIR / "model_card.json").read_text())
    from liveinspect.datasets import data_sha256

    assert card["data"]["sha256"] == data_sha256(DATA_DIR / "train.jsonl"), "retrain the shipped model"
    assert card["data"]["path"] == "liveinspect/data/claims/train.jsonl"
    assert card["labels"] == CLASSIFIER_LABELS and card["training"]["config"]["seed"] == 0
    assert (DEFAULT_CLAIM_MODEL_DIR / "model.safetensors").stat().st_size < 4_000_000
    predicted = shipped.predict_proba(list(NEAR_MISSES)).argmax(axis=1)
    assert [shipped.labels[i] for i in predicted] == list(NEAR_MISSES.values())


def test_combined_text_analyzer_adds_what_the_lexicon_misses(shipped: NgramClaimClassifier) -> None:
    text = "已经卖出十万单了"  # fake sales figures: no lexicon entry
    assert TextAnalyzer().analyze_text(text) == []
    findings = TextAnalyzer(classifier=shipped).analyze_text(text)
    assert [f.kind for f in findings] == [FindingKind.fake_data]
    assert findings[0].model == "claims-ngram" and findings[0].model_version == shipped.version


def test_missing_models_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="model_card.json"):
        load_claim_classifier(tmp_path)


# --- transformers ----------------------------------------------------------------


def _tiny_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    # The fixed held-out split's characters: a vocabulary that does not move when training data is added.
    texts = [json.loads(line)["text"] for line in (DATA_DIR / "test.jsonl").read_text().splitlines()]
    texts += list(NEAR_MISSES)
    han = sorted({ch for t in texts for ch in normalize_for_classifier(t) if "\u4e00" <= ch <= "\u9fff"})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *han, *"abcdefghijklmnopqrstuvwxyz0123456789",
             "add", "me", "on", "wechat", "cream", "the", "best"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"), tokenize_chinese_chars=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=len(CLASSIFIER_LABELS),
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        id2label=dict(enumerate(CLASSIFIER_LABELS)),
                        label2id={label: i for i, label in enumerate(CLASSIFIER_LABELS)})
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_transformer_classifier_from_a_local_tiny_bert(tmp_path: Path) -> None:
    from liveinspect.models.claims.transformer import TransformerClaimClassifier

    folder = _tiny_bert(tmp_path / "bert")
    assert (folder / "model.safetensors").is_file()
    classifier = load_claim_classifier(folder)
    assert isinstance(classifier, TransformerClaimClassifier) and isinstance(classifier, ClaimClassifier)
    assert classifier.labels == CLASSIFIER_LABELS and len(classifier.version) == 12
    tokens = classifier.tokenizer.tokenize("三天祛斑 add me")
    assert tokens[:4] == ["三", "天", "祛", "斑"] and "[UNK]" not in tokens
    probabilities = classifier.predict_proba(["三天祛斑", "add me on WeChat", "这款面霜很滋润，适合干皮"])
    assert probabilities.shape == (3, N_LABELS) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # the analyzer accepts it like any other classifier
    TextAnalyzer(classifier=classifier).analyze_text("三天祛斑")


def test_transformer_refuses_pickled_weights_and_missing_folders(tmp_path: Path) -> None:
    from liveinspect.models.claims.transformer import TransformerClaimClassifier

    with pytest.raises(WeightsNotFoundError, match="config.json"):
        TransformerClaimClassifier.from_pretrained(tmp_path / "absent")
    folder = _tiny_bert(tmp_path / "bert")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="safetensors"):
        TransformerClaimClassifier.from_pretrained(folder)


def test_trainer_fine_tunes_the_tiny_bert(tmp_path: Path) -> None:
    from liveinspect.models.claims.transformer import TransformerClaimClassifier
    from liveinspect.training.trainer import TensorExamples, TrainConfig, Trainer

    classifier = TransformerClaimClassifier.from_pretrained(_tiny_bert(tmp_path / "bert"), device="cpu")
    texts = list(NEAR_MISSES) * 4
    labels = torch.tensor([CLASSIFIER_LABELS.index(v) for v in NEAR_MISSES.values()] * 4)
    encoded = classifier.tokenizer(texts, padding=True, return_tensors="pt")

    class Logits(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**inputs).logits

    examples = TensorExamples(dict(encoded), labels)
    result = Trainer(Logits(classifier.model), TrainConfig(epochs=40, batch_size=8, learning_rate=3e-3,
                                                           patience=40, progress=False)).fit(examples)
    assert result.history[-1].train_loss < 0.5 * result.history[0].train_loss
    predicted = classifier.predict_proba(list(NEAR_MISSES)).argmax(axis=1)
    assert [CLASSIFIER_LABELS[i] for i in predicted] == list(NEAR_MISSES.values())


# --- training from the seed data ----------------------------------------------------


@pytest.mark.slow
def test_training_from_seed_data_is_deterministic(tmp_path: Path) -> None:
    from liveinspect.training.claims import train_claims
    from liveinspect.training.trainer import TrainConfig

    config = TrainConfig(epochs=4, batch_size=16, learning_rate=0.02, weight_decay=0.01, seed=3,
                         progress=False)
    first = train_claims(DATA_DIR / "train.jsonl", tmp_path / "a", config, buckets=1 << 12)
    second = train_claims(DATA_DIR / "train.jsonl", tmp_path / "b", config, buckets=1 << 12)
    assert first.classifier.version == second.classifier.version
    weights = [(tmp_path / run / "model.safetensors").read_bytes() for run in ("a", "b")]
    assert weights[0] == weights[1]
    card = json.loads((tmp_path / "a" / "model_card.json").read_text())
    assert card["data"]["rows"] == card["data"]["train_rows"] + card["data"]["val_rows"]
    assert set(card["data"]["label_counts"]) == set(CLASSIFIER_LABELS)
    assert card["metrics"]["validation"]["temperature"] > 0
    assert card["metrics"]["validation"]["macro_f1"] > 1 / 7  # better than chance after 4 epochs
