"""The claim data: the real-language set kept apart from training, its provenance fields, the
generated training rows reproducible, the shipped models retrainable byte for byte, and the
real-language targets held by the shipped check."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from liveinspect.models.claims.labels import CLASSIFIER_LABELS
from liveinspect.schema import Product

DATA = Path(__file__).resolve().parents[1] / "liveinspect" / "data" / "claims"
REAL = DATA / "real" / "test.jsonl"


def _generator():
    spec = importlib.util.spec_from_file_location("claims_generate", DATA / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_real_set_is_apart_from_the_training_data() -> None:
    """No real-language line has a character-trigram Jaccard similarity of 0.5 or more to any
    training line (the measure and threshold the datasheet states)."""
    generate = _generator()
    assert generate.HELD_OUT_LIMIT == 0.5
    index = generate.NearestIndex([r["text"] for r in rows(DATA / "train.jsonl")])
    closest = max((index.nearest(r["text"])[0], r["text"]) for r in rows(REAL))
    assert closest[0] < 0.5, closest
    held_out = max(index.nearest(r["text"])[0] for r in rows(DATA / "test.jsonl"))
    assert held_out < 0.5


def test_similarity_measure() -> None:
    generate = _generator()
    a, b = generate.trigrams("加我微信私聊"), generate.trigrams("加我微信私聊吧")
    assert generate.jaccard(a, b) == pytest.approx(4 / 5)
    assert generate.jaccard(generate.trigrams("abc"), generate.trigrams("xyz")) == 0.0
    index = generate.NearestIndex(["这款面霜很滋润", "加我微信私聊"])
    assert index.nearest("加我微信私聊吧") == (pytest.approx(0.8), 1)


def test_generated_rows_are_reproducible() -> None:
    generate = _generator()
    assert generate.render(generate.build_train()) == (DATA / "train.jsonl").read_text(encoding="utf-8")


def test_real_set_fields_and_provenance() -> None:
    real = rows(REAL)
    assert len(real) >= 400 and len({r["id"] for r in real}) == len(real)
    assert {r["lang"] for r in real} == {"zh", "en"}
    assert {r["label"] for r in real} == set(CLASSIFIER_LABELS)
    provenance = Counter(r["provenance"] for r in real)
    assert set(provenance) <= {"quote", "paraphrase", "written"}
    for row in real:
        if row["provenance"] in ("quote", "paraphrase"):
            assert len(row.get("source", "")) > 40, row  # issuing body, what, year
        if "product" in row:
            Product.model_validate({"name": "(product)", **row["product"]})
    # the datasheet states the counts; keep it in step with the file
    sheet = (DATA / "README.md").read_text(encoding="utf-8")
    for kind in ("quote", "paraphrase", "written"):
        assert re.search(rf"\b{provenance.get(kind, 0)}\b[^\n]*\b{kind}", sheet), kind


def test_every_generated_row_names_its_template() -> None:
    generate = _generator()
    templates = {t[0]: t[1] for t in generate.TEMPLATES}
    for row in rows(DATA / "train.jsonl"):
        if row.get("provenance") == "generated":
            assert templates[row["template"]] == row["label"]


@pytest.mark.slow
def test_shipped_ngram_model_retrains_byte_identically(tmp_path: Path) -> None:
    """The one command of the datasheet (`liveinspect train claims --data ... --seed 0`) gives the
    shipped weights, byte for byte."""
    from liveinspect.cli import main
    from liveinspect.models.claims import DEFAULT_CLAIM_MODEL_DIR

    out = tmp_path / "claims-ngram"
    assert main(["train", "claims", "--data", str(DATA / "train.jsonl"), "--out", str(out), "--seed", "0",
                 "--no-progress"]) == 0
    shipped = json.loads((DEFAULT_CLAIM_MODEL_DIR / "model_card.json").read_text())["weights"]["sha256"]
    assert json.loads((out / "model_card.json").read_text())["weights"]["sha256"] == shipped
    shipped_bytes = (DEFAULT_CLAIM_MODEL_DIR / "model.safetensors").read_bytes()
    assert (out / "model.safetensors").read_bytes() == shipped_bytes


@pytest.mark.slow
def test_shipped_check_holds_its_real_language_targets() -> None:
    """Regression guard, not a tuning target: the numbers are those the datasheet reports."""
    from liveinspect.eval.claims import evaluate_claims, read_claim_rows
    from liveinspect.models.claims.combined import shared_combined_claim_classifier

    results = evaluate_claims(read_claim_rows(REAL), shared_combined_claim_classifier(), n_resamples=20,
                              progress=False)
    binary = results["systems"]["combined"]["summary"]["binary"]
    assert binary["f1"] >= 0.85 and binary["precision"] >= 0.90, binary
    assert results["systems"]["combined"]["evidence"]["withdrawn_by_category_rules"]
