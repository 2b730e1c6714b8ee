"""The edge runtime side by side with the torch path, in one run on this machine's cores.

    .venv/bin/python bench/edge.py --export .cache/edge --minutes 3 --json out/bench_edge.json

Needs the full environment (torch, faster-whisper from the `bench` extra) and an export
(`liveinspect export --models all --out DIR --int8`; made here when `--export` names a folder
without a manifest). Three tables:

1. per model: torch eager fp32, ONNX Runtime fp32 and ONNX Runtime int8 throughput on the same real
   inputs, with the task metric (int8 twins the export did not ship are quantized here, for the
   comparison only); `x_torch` is the throughput against the model's torch eager row, `graph_s` the
   seconds inside the model's graph and `outside_s` the numpy work around it, which both runtimes
   share (featurising, the MTCNN pyramid and NMS, LFCC statistics); for Whisper, whether the greedy
   jfk (and demo) transcript is word for word the torch path's; the e5 encoder's torch anchor is the
   same stack in torch eager ops (the project runs e5 on ONNX Runtime only);
2. speech: the edge Whisper (the precision its export chose) against faster-whisper int8 on the
   same CTranslate2 weights and the same audio (the long-form and dense sets of bench/asr.py):
   real-time factor and WER; the torch path for reference;
3. the demo scan: the torch path against the edge runtime (wall time, times realtime, CPU
   seconds) and whether their findings are the same.

Load from other processes slows every row alike; the ratios are what to read (`load` is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(run, repeats: int = 1):
    """(result of the last call, median wall seconds), after one warm-up call."""
    run()
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return result, float(np.median(times))


def _row(model: str, runtime: str, items: int, seconds: float, metric: str, value,
         graph_seconds: float | None = None) -> dict:
    row = {"model": model, "runtime": runtime, "items_per_s": round(items / seconds, 2),
           "seconds": round(seconds, 3), "metric": metric,
           "value": round(value, 4) if isinstance(value, float) else value}
    if graph_seconds is not None:  # the share inside the model's graph; the rest is numpy around it
        row["graph_s"] = round(graph_seconds, 3)
        row["outside_s"] = round(seconds - graph_seconds, 3)
    return row


def _speedups(rows: list[dict]) -> None:
    """Each row's throughput against its model's torch eager row (the target is int8 >= 2x)."""
    anchors = {r["model"]: r["items_per_s"] for r in rows if r["runtime"] == "torch eager fp32"}
    for row in rows:
        if row["model"] in anchors:
            row["x_torch"] = round(row["items_per_s"] / anchors[row["model"]], 2)


class GraphTimer:
    """A backend that adds up the wall seconds spent inside the wrapped backend's `run`, so a row can
    say how much of its time is the graph and how much the numpy work around it (shared by every
    runtime: featurising, pyramids, NMS, LFCC statistics)."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds, self.calls = inner, 0.0, 0
        self.kind, self.input_names, self.output_names = inner.kind, inner.input_names, inner.output_names

    def run(self, inputs):
        started = time.perf_counter()
        try:
            return self.inner.run(inputs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def timed_with_graph(run, timers: list[GraphTimer], repeats: int = 1):
    """`timed`, plus the median seconds per call spent inside the timed backends."""
    run()
    times, graph, result = [], [], None
    for _ in range(repeats):
        for timer in timers:
            timer.seconds = 0.0
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        graph.append(sum(t.seconds for t in timers))
    return result, float(np.median(times)), float(np.median(graph))


def e5_torch_backend(packed):
    """The e5 encoder stack as torch eager ops from the same dequantized weights, behind a
    TorchBackend with the ONNX graph's inputs and output (the project runs e5 on ONNX Runtime only;
    this is the torch anchor of its row). Post-LN BERT, exact GELU, -10000 on padding."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from liveinspect.backends.base import BackendOptions
    from liveinspect.backends.torch import TorchBackend

    c = packed.config

    def tensor(array):
        return torch.from_numpy(np.array(array, dtype=np.float32))

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln = {}
            self.linear = {}
            shapes = {"q": (c.hidden, c.hidden), "k": (c.hidden, c.hidden), "v": (c.hidden, c.hidden),
                      "ao": (c.hidden, c.hidden), "fi": (c.intermediate, c.hidden),
                      "fo": (c.hidden, c.intermediate)}
            for name in ["emb.ln"] + [f"l{i}.{n}" for i in range(c.layers) for n in ("aln", "oln")]:
                self.ln[name] = (tensor(packed.float32(f"{name}.w", (c.hidden,))),
                                 tensor(packed.float32(f"{name}.b", (c.hidden,))))
            for i in range(c.layers):
                for part, (rows, cols) in shapes.items():
                    name = f"l{i}.{part}"
                    self.linear[name] = (tensor(packed.q4_matrix(f"{name}.w", rows, cols)),
                                         tensor(packed.float32(f"{name}.b", (rows,))))

        def norm(self, x, name):
            return F.layer_norm(x, (c.hidden,), *self.ln[name], eps=c.eps)

        def forward(self, embeddings, mask):
            batch, tokens, _ = embeddings.shape
            bias = ((1.0 - mask) * -10000.0)[:, None, None, :]
            x = self.norm(embeddings, "emb.ln")

            def split(t):
                return t.view(batch, tokens, c.heads, -1).transpose(1, 2)

            for i in range(c.layers):
                q, k, v = (split(F.linear(x, *self.linear[f"l{i}.{n}"])) for n in "qkv")
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
                context = context.transpose(1, 2).reshape(batch, tokens, c.hidden)
                x = self.norm(x + F.linear(context, *self.linear[f"l{i}.ao"]), f"l{i}.aln")
                inner = F.gelu(F.linear(x, *self.linear[f"l{i}.fi"]))
                x = self.norm(x + F.linear(inner, *self.linear[f"l{i}.fo"]), f"l{i}.oln")
            return x

    return TorchBackend(Encoder(), ["embeddings", "mask"], ["hidden"],
                        BackendOptions(kind="torch", device="cpu"))


def _int8_copy(folder: Path, names: list[str], scratch: Path, **options) -> Path:
    """The fp32 graphs of `folder` with int8 twins made here (for the comparison only)."""
    from liveinspect.export.quantize import quantize_int8

    target = scratch / folder.name
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and ".int8." not in path.name and not (target / path.name).exists():
            (target / path.name).symlink_to(path.resolve())
    for name in names:
        quantize_int8(folder / f"{name}.onnx", target / f"{name}.int8.onnx", **options)
    return target


def bench_models(export: Path, manifest, scratch: Path) -> list[dict]:
    from liveinspect.backends.base import BackendOptions
    from liveinspect.eval.metrics import wer
    from liveinspect.export.common import EvalData, demo_frames
    from liveinspect.export.quantize import quantize_static_int8, recorded_inputs
    from liveinspect.media import load_audio
    from liveinspect.models.faces import FaceDetector
    from liveinspect.models.whisper import load_whisper_model
    from liveinspect.models.whisper.onnx_runner import OnnxWhisperRunner
    from liveinspect.pipelines.asr import Transcriber

    rows: list[dict] = []
    data = EvalData.locate(ROOT)
    words = lambda t: " ".join("".join(c if c.isalnum() or c == "'" else " " for c in t.lower()).split())  # noqa: E731

    # Whisper: transcribe jfk and the demo's audio (67 s of speech and pauses)
    audio = [load_audio(data.jfk), load_audio(data.demo / "demo.mp4")]
    reference = words(data.jfk_text + " " + data.demo_speech_text())
    seconds_of_audio = sum(len(a) for a in audio) / 16000
    folder = export / manifest.models["whisper"].folder
    runners = {"torch eager fp32": load_whisper_model(),
               "ORT fp32": OnnxWhisperRunner(folder, BackendOptions(kind="onnx", precision="fp32"))}
    if not (folder / "encoder.int8.onnx").is_file():
        from liveinspect.export.speech import ENCODER_FP32

        quantized = _int8_copy(folder, ["decoder", "alignment"], scratch)
        _int8_copy(folder, ["encoder"], scratch, exclude=ENCODER_FP32)
        runners["ORT int8 (not shipped)"] = OnnxWhisperRunner(quantized, BackendOptions(kind="onnx",
                                                                                        precision="int8"))
    else:
        runners["ORT int8"] = OnnxWhisperRunner(folder, BackendOptions(kind="onnx", precision="int8"))
    torch_texts = None
    for runtime, model in runners.items():
        transcriber = Transcriber(model)
        texts, seconds = timed(lambda t=transcriber: [t.transcribe_audio(a).text for a in audio])
        torch_texts = torch_texts or texts
        rows.append(_row("whisper-base", runtime, round(seconds_of_audio), seconds, "WER",
                         wer(reference, words(" ".join(texts)))))
        # greedy, word for word: the "jfk transcript identical to the torch path"
        rows[-1]["jfk_same_as_torch"] = texts[0] == torch_texts[0]
        rows[-1]["demo_same_as_torch"] = texts[1] == torch_texts[1]
        rows[-1]["items"] = "audio seconds"

    # MTCNN on the demo's frames: throughput and agreement of face counts with torch
    frames = demo_frames(data, every=2, limit=24)
    faces_dir = export / manifest.models["faces"].folder
    settings = {"min_face_size": 40, "max_side": 640}
    detectors = {"torch eager fp32": FaceDetector(backend="torch", **settings),
                 "ORT fp32": FaceDetector(backend=BackendOptions(kind="onnx"), onnx_dir=faces_dir,
                                          **settings)}
    if (faces_dir / "pnet.int8.onnx").is_file():
        detectors["ORT int8"] = FaceDetector(backend=BackendOptions(kind="onnx", precision="int8"),
                                             onnx_dir=faces_dir, **settings)
    else:
        # Dynamic int8 (what the export tries) and static int8 calibrated on other demo frames (the
        # odd seconds; these rows read the even ones).
        dynamic = _int8_copy(faces_dir, ["pnet", "rnet", "onet"], scratch / "dynamic",
                             op_types=("Conv", "MatMul"))
        detectors["ORT int8 dynamic (not shipped)"] = FaceDetector(
            backend=BackendOptions(kind="onnx", precision="int8"), onnx_dir=dynamic, **settings)
        calibration = demo_frames(data, every=1, limit=1000)[1::6]
        fp32 = detectors["ORT fp32"]
        feeds = recorded_inputs(fp32.nets, lambda: fp32.detect_batch(calibration))
        calibrated = _int8_copy(faces_dir, [], scratch / "static")
        for net in ("pnet", "rnet", "onet"):
            quantize_static_int8(faces_dir / f"{net}.onnx", calibrated / f"{net}.int8.onnx", feeds[net],
                        op_types=("Conv", "Gemm", "MaxPool"))
        detectors["ORT int8 static (not shipped)"] = FaceDetector(
            backend=BackendOptions(kind="onnx", precision="int8"), onnx_dir=calibrated, **settings)
    reference_counts = None
    for runtime, detector in detectors.items():
        timers = [GraphTimer(net) for net in detector.nets.values()]
        detector.nets = dict(zip(detector.nets, timers, strict=True))
        found, seconds, graph = timed_with_graph(lambda d=detector: d.detect_batch(frames), timers, repeats=3)
        counts = [len(f) for f in found]
        reference_counts = reference_counts or counts
        agreement = float(np.mean([a == b for a, b in zip(counts, reference_counts, strict=True)]))
        rows.append(_row("mtcnn", runtime, len(frames), seconds, "same face count as torch", agreement,
                         graph))

    # Claims: the n-gram model (torch / ORT) and the e5 encoder (ORT fp32 / int8), macro-F1 on the real set
    from liveinspect.export.claims import EVAL_SET, _macro_f1
    from liveinspect.eval.claims import read_claim_rows
    from liveinspect.models.claims import NgramClaimClassifier
    from liveinspect.models.claims.combined import CombinedClaimClassifier
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier
    from liveinspect.models.claims.encoder import E5Encoder

    rows_set = read_claim_rows(EVAL_SET)
    texts, labels = list(rows_set.texts), list(rows_set.labels)
    claims = export / manifest.models["claims"].folder
    for runtime, options in (("torch eager fp32", BackendOptions(kind="torch", device="cpu")),
                             ("ORT fp32", BackendOptions(kind="onnx"))):
        ngram = NgramClaimClassifier.load(claims / "ngram", options)
        timer = ngram.backend = GraphTimer(ngram.backend)
        _, seconds, graph = timed_with_graph(lambda n=ngram: n.predict_proba(texts), [timer], repeats=5)
        rows.append(_row("claims-ngram", runtime, len(texts), seconds, "macro-F1",
                         _macro_f1(ngram, texts, labels), graph))
    # The e5 encoder runs on ONNX Runtime only; its torch anchor is the same stack in torch eager ops.
    ngram = NgramClaimClassifier.load(claims / "ngram", BackendOptions(kind="onnx"))
    vectors = {}
    for runtime, precision in (("torch eager fp32", "fp32"), ("ORT fp32", "fp32"), ("ORT int8", "int8")):
        encoder = E5Encoder(options=BackendOptions(kind="onnx", precision=precision), cache_dir=claims / "e5")
        if runtime.startswith("torch"):
            encoder.backend = e5_torch_backend(encoder.packed)
        timer = encoder.backend = GraphTimer(encoder.backend)
        head = EncoderClaimClassifier.load(claims / "e5-head", encoder=encoder)
        combined = CombinedClaimClassifier(ngram, head)
        batch, seconds, graph = timed_with_graph(lambda e=encoder: e.encode(texts), [timer])
        vectors[runtime] = batch.vectors
        rows.append(_row("claims-e5 (+ngram)", runtime, len(texts), seconds, "macro-F1",
                         _macro_f1(combined, texts, labels), graph))
        # the torch anchor computes the same vectors (a check on the anchor, not on the export)
        rows[-1]["min_cosine_vs_torch"] = round(float(np.min(np.sum(
            batch.vectors * vectors["torch eager fp32"], axis=1))), 5)

    # AASIST on 4 s windows of jfk and the demo: agreement of the head's verdict with torch
    from liveinspect.export.common import ExportContext
    from liveinspect.export.voice import _windows
    from liveinspect.models.voice.detector import VoiceSpoofModel

    windows = _windows(ExportContext(out=scratch, eval_data=data))
    voice = export / manifest.models["voice"].folder
    voice_int8 = _int8_copy(voice, ["aasist"], scratch, op_types=("Conv", "MatMul"))
    # Static int8 of the encoder's convolutions, calibrated on the windows between these (the
    # rows read every other 4 s window; these are the ones in between). The sinc front end stays
    # fp32: its filters are computed in the graph (no weight initializer), and quantizing its
    # output cost the most accuracy.
    from liveinspect.models.voice.features import WINDOW_SAMPLES

    clips = [load_audio(data.jfk), load_audio(data.demo / "demo.mp4")]
    between = np.stack([clip[start:start + WINDOW_SAMPLES] for clip in clips
                        for start in range(WINDOW_SAMPLES, len(clip) - WINDOW_SAMPLES + 1,
                                           2 * WINDOW_SAMPLES)]).astype(np.float32)
    voice_static = quantize_static_int8(voice / "aasist.onnx", scratch / "aasist.static.int8.onnx",
                               [{"waveform": between[i:i + 2]} for i in range(0, len(between), 2)],
                               op_types=("Conv",), exclude=("/Conv",))
    models = {"torch eager fp32": VoiceSpoofModel(backend=BackendOptions(kind="torch", device="cpu"),
                                                  head=voice / "head"),
              "ORT fp32": VoiceSpoofModel(backend=BackendOptions(kind="onnx"),
                                          aasist_weights=voice / "aasist.onnx", head=voice / "head"),
              "ORT int8 dynamic (not shipped)": VoiceSpoofModel(
                  backend=BackendOptions(kind="onnx"), aasist_weights=voice_int8 / "aasist.int8.onnx",
                  head=voice / "head"),
              "ORT int8 static (not shipped)": VoiceSpoofModel(
                  backend=BackendOptions(kind="onnx"), aasist_weights=voice_static, head=voice / "head")}
    reference_verdicts = reference_margin = None
    for runtime, model in models.items():
        timer = GraphTimer(model._get_backend())
        model._backend = timer  # bench only: time the graph apart from the LFCC statistics and head
        scores, seconds, graph = timed_with_graph(lambda m=model: m.score(windows), [timer], repeats=2)
        verdicts = scores.probability >= 0.5
        reference_verdicts = verdicts if reference_verdicts is None else reference_verdicts
        reference_margin = scores.margin if reference_margin is None else reference_margin
        rows.append(_row("aasist+head", runtime, len(windows), seconds, "same verdict as torch",
                         float((verdicts == reference_verdicts).mean()), graph))
        # AASIST's own output (bona fide - spoof logit) against torch's, and its spread on these windows
        rows[-1]["margin_max_abs_err"] = round(float(np.abs(scores.margin - reference_margin).max()), 4)
        rows[-1]["margin_range"] = [round(float(reference_margin.min()), 2),
                                    round(float(reference_margin.max()), 2)]

    # The avatar tower ships as int8 ONNX only
    from liveinspect.models.avatar import ClipImageTower

    tower = ClipImageTower()
    _, seconds = timed(lambda: tower.embed(frames[:8]))
    rows.append(_row("clip-vitb16 (avatar)", "ORT int8 (as shipped)", 8, seconds, "-", "-"))
    _speedups(rows)
    return rows


def bench_speech(export: Path, manifest, minutes: float) -> list[dict]:
    from asr import dense_recording, measure, run_faster_whisper
    from asr_corpus import long_recording

    from liveinspect.models.whisper import load_whisper_model
    from liveinspect.pipelines.asr import Transcriber, TranscribeOptions

    edge = load_whisper_model(export / manifest.models["whisper"].folder)  # the precision the export chose
    torch_model = load_whisper_model()
    systems = {
        f"edge whisper ({edge.precision})": lambda audio: Transcriber(edge).transcribe_audio(audio),
        "faster-whisper int8": lambda audio: run_faster_whisper("int8", audio, "cpu"),
        "torch path (fp32)": lambda audio: Transcriber(torch_model, device="cpu",
                                                       options=TranscribeOptions()).transcribe_audio(audio),
    }
    recordings = [("longform", long_recording(minutes)),
                  ("dense", dense_recording(long_recording(max(minutes, 5.0) * 1.4, seed=1)))]
    rows = []
    for label, recording in recordings:
        warm = recording.audio[: 20 * 16000]
        for name, run in systems.items():
            run(warm)
            row = measure(name, run, recording)
            row["audio"], row["minutes"] = label, round(recording.duration / 60, 2)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def bench_demo_scan(export: Path) -> list[dict]:
    from edge_support import unmatched_findings

    from liveinspect.broadcast_file import load_broadcast
    from liveinspect.edge import build_edge_inspector, open_edge_models
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.pipelines.registry import build_inspector

    broadcast = load_broadcast(ROOT / "examples" / "demo" / "broadcast.yaml")
    options = ScanOptions(progress=False)
    reports, rows = {}, []
    models = open_edge_models(export, threads=os.cpu_count() or 1)
    for name, build in (("torch path", lambda: build_inspector(options=options)),
                        ("edge runtime", lambda: build_edge_inspector(models, options=options))):
        with build() as inspector:
            inspector.scan(broadcast)  # warm-up: sessions, caches, first calls
            cpu, started = cpu_seconds(), time.perf_counter()
            report = inspector.scan(broadcast).report
            seconds = time.perf_counter() - started
            cpu = cpu_seconds() - cpu
        reports[name] = json.loads(report.to_json())
        rows.append({"system": name, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                     "times_realtime": round(report.media.duration_s / seconds, 2),
                     "findings": len(report.findings)})
    missing, extra = unmatched_findings(reports["torch path"], reports["edge runtime"])
    for row in rows:
        row["same_findings"] = not missing and not extra
    if missing or extra:
        print(f"torch only: {missing}\nedge only: {extra}", file=sys.stderr)
    return rows


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=ROOT / ".cache" / "bench-edge",
                        help="export folder (made here with --int8 if it has no manifest)")
    parser.add_argument("--minutes", type=float, default=3.0, help="long-form audio for the speech table")
    parser.add_argument("--parts", default="models,speech,scan", help="which tables: models,speech,scan")
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args(argv)
    from liveinspect.export.manifest import Manifest
    from liveinspect.export.runner import export_models

    if not (args.export / "manifest.json").is_file():
        export_models(["all"], args.export, int8=True, progress=lambda m: print(m, file=sys.stderr))
    manifest = Manifest.read(args.export)
    parts = {p.strip() for p in args.parts.split(",")}
    results: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as scratch:
        if "models" in parts:
            results["models"] = bench_models(args.export, manifest, Path(scratch))
            print_table(results["models"], ["model", "runtime", "items_per_s", "x_torch", "seconds",
                                            "graph_s", "outside_s", "metric", "value",
                                            "jfk_same_as_torch", "min_cosine_vs_torch",
                                            "margin_max_abs_err"])
    if "speech" in parts:
        results["speech"] = bench_speech(args.export, manifest, args.minutes)
        print_table(results["speech"], ["audio", "minutes", "system", "rtf", "wer", "invented_words",
                                        "missed_utterances", "max_start_error_s"])
    if "scan" in parts:
        results["scan"] = bench_demo_scan(args.export)
        print_table(results["scan"], ["system", "seconds", "cpu_seconds", "times_realtime", "findings",
                                      "same_findings"])
    results["load_after"] = os.getloadavg()
    print(f"load average before {results['load_before']}, after {results['load_after']} "
          f"({results['cpus']} cores)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
