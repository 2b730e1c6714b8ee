"""Speech recognition, side by side in one run on the same audio and the same Whisper weights.

    .venv/bin/python bench/asr.py --minutes 10 --json out/bench_asr.json

Systems: our batched pipeline (VAD chunks, batched greedy decoding, word
timestamps), `whisper.transcribe` on the same model object, and faster-whisper
int8 and fp32 on the same weights (the CTranslate2 files the package ships).
Audio: `longform` is the long-form corpus (real jfk.flac and espeak speech
with long silences and music-like tones); `dense` is the same speech back to
back with short pauses, where VAD can skip little. Prints real-time factor,
WER, words invented in silence/music, and the speedup over whisper.transcribe.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from asr_corpus import Recording, RecordingBuilder, long_recording
from asr_longform import score_longform
from asr_wer import word_error_rate

from liveinspect.models.whisper import ct2_model_dir, load_whisper_model
from liveinspect.pipelines.asr import Transcriber, TranscribeOptions
from liveinspect.pipelines.asr.transcribe import Transcript, TranscriptSegment, Word

SAMPLE_RATE = 16_000


def dense_recording(source: Recording) -> Recording:
    """The utterances of `source` back to back with 0.5 s pauses: speech nearly all the time."""
    builder = RecordingBuilder()
    for utterance in source.utterances:
        lo, hi = int((utterance.start - 0.3) * SAMPLE_RATE), int((utterance.end + 0.3) * SAMPLE_RATE)
        clip = source.audio[max(lo, 0):hi]
        builder.speech(clip, utterance.text, utterance.source, (0.3, 0.3 + utterance.end - utterance.start))
        builder.silence(0.5)
    return builder.build()


def _transcript(segments: list[tuple[float, float, str, list[tuple[str, float, float]]]],
                duration: float) -> Transcript:
    return Transcript([TranscriptSegment(text=t, start=s, end=e, words=[Word(*w) for w in words],
                                         language="en")
                       for s, e, t, words in segments], duration)


def run_ours(model, audio: np.ndarray, device: str) -> Transcript:
    return Transcriber(model, device=device, options=TranscribeOptions()).transcribe_audio(audio)


def run_openai(model, audio: np.ndarray, device: str) -> Transcript:
    import whisper

    result = whisper.transcribe(model, audio, fp16=device == "cuda", word_timestamps=True)
    return _transcript([(s["start"], s["end"], s["text"].strip(),
                         [(w["word"].strip(), w["start"], w["end"]) for w in s.get("words", [])])
                        for s in result["segments"]], len(audio) / SAMPLE_RATE)


def run_faster_whisper(compute_type: str, audio: np.ndarray, device: str) -> Transcript:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(ct2_model_dir()), device=device, compute_type=compute_type,
                         cpu_threads=os.cpu_count() or 1)
    segments, _info = model.transcribe(audio, beam_size=1, word_timestamps=True)
    return _transcript([(s.start, s.end, s.text.strip(),
                         [(w.word.strip(), w.start, w.end) for w in s.words or []])
                        for s in segments], len(audio) / SAMPLE_RATE)


def measure(name: str, run, recording: Recording) -> dict:
    started = time.perf_counter()
    transcript = run(recording.audio)
    seconds = time.perf_counter() - started
    score = score_longform(recording, transcript)
    return {"system": name, "seconds": round(seconds, 2), "rtf": round(seconds / recording.duration, 4),
            "wer": round(word_error_rate(recording.text, transcript.text), 4),
            "invented_words": len(score.words_in_non_speech),
            "missed_utterances": len(score.missed_utterances),
            "max_start_error_s": round(score.max_start_error_s, 2),
            "max_end_error_s": round(score.max_end_error_s, 2)}


def bench(recording: Recording, label: str, device: str, systems: list[str]) -> list[dict]:
    model = load_whisper_model()
    runners = {
        "ours (batched)": lambda audio: run_ours(model, audio, device),
        "whisper.transcribe": lambda audio: run_openai(model, audio, device),
        "faster-whisper int8": lambda audio: run_faster_whisper(
            "int8_float16" if device == "cuda" else "int8", audio, device),
        "faster-whisper fp32": lambda audio: run_faster_whisper(
            "float16" if device == "cuda" else "float32", audio, device),
    }
    # Warm up once on a short clip so one-time costs (JIT compile, thread pools) are not timed.
    warm = recording.audio[: 20 * SAMPLE_RATE]
    rows = []
    for name in systems:
        runner = runners[name]
        if name.startswith("faster-whisper"):
            try:
                import faster_whisper  # noqa: F401
            except ImportError:
                print(f"skipping {name}: faster-whisper is not installed", file=sys.stderr)
                continue
        runner(warm)
        row = measure(name, runner, recording)
        row["audio"], row["minutes"] = label, round(recording.duration / 60, 2)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    anchor = next((r for r in rows if r["system"] == "whisper.transcribe"), None)
    for row in rows:
        ratio = anchor["seconds"] / row["seconds"] if anchor else None
        row["speedup_vs_whisper_transcribe"] = round(ratio, 2) if ratio else None
    return rows


def print_table(rows: list[dict]) -> None:
    columns = ["audio", "minutes", "system", "rtf", "speedup_vs_whisper_transcribe", "wer", "invented_words",
               "missed_utterances", "max_start_error_s", "max_end_error_s"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--audio", choices=["longform", "dense", "both"], default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--systems", default="ours (batched),whisper.transcribe,faster-whisper int8,"
                                             "faster-whisper fp32")
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    longform = long_recording(args.minutes)
    recordings = []
    if args.audio in ("longform", "both"):
        recordings.append(("longform", longform))
    if args.audio in ("dense", "both"):
        # Speech is ~40 % of the long-form corpus; draw enough of it for >= 5 minutes back to back.
        source = long_recording(max(args.minutes, 5.0) * 1.4, seed=1)
        recordings.append(("dense", dense_recording(source)))
    rows = []
    for label, recording in recordings:
        rows.extend(bench(recording, label, args.device, systems))
    info = {"device": args.device, "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None, "rows": rows}
    print_table(rows)
    print(json.dumps(info))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
