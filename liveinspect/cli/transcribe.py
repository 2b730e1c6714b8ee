"""`liveinspect transcribe FILE`: the batched Whisper pipeline on one recording."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def run_transcribe(args: argparse.Namespace) -> int:
    from liveinspect.pipelines.asr import TranscribeOptions
    from liveinspect.pipelines.asr.transcribe import transcribe_file

    options = TranscribeOptions(language=args.language, beam_size=args.beam,
                                word_timestamps=not args.no_words)
    transcript = transcribe_file(args.file, model=args.weights, options=options, device=args.device,
                                 progress=not args.no_progress)
    if args.json:
        print(json.dumps({"duration": transcript.duration, "chunks": transcript.chunks,
                          "dropped": transcript.dropped,
                          "segments": [dataclasses.asdict(s) for s in transcript.segments]},
                         ensure_ascii=False, indent=2))
        return 0
    for segment in transcript.segments:
        print(f"[{segment.start:8.2f} → {segment.end:8.2f}] {segment.language or '??'}  {segment.text}")
    if transcript.dropped:
        print(f"dropped as hallucinations: {transcript.dropped}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("transcribe", help="transcribe an audio or video file with Whisper")
    parser.add_argument("file", help="audio or video file (anything PyAV decodes)")
    parser.add_argument("--weights", help="Whisper .pt checkpoint, CTranslate2 folder or model name "
                                          "(default: the packaged multilingual base)")
    parser.add_argument("--language", help="force a language (e.g. zh, en); default: per-chunk language id")
    parser.add_argument("--beam", type=int, help="beam size (default: greedy)")
    parser.add_argument("--device", help="cuda, cuda:1 or cpu (default: cuda when present)")
    parser.add_argument("--no-words", action="store_true", help="skip word timestamps")
    parser.add_argument("--json", action="store_true", help="print segments and words as JSON")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_transcribe)
