"""Batched Whisper transcription: engine, word timing, filters and the transcript model."""

from liveinspect.pipelines.asr.engine import WhisperEngine, auto_batch_size, pick_device
from liveinspect.pipelines.asr.filters import PhraseBlocklist, cut_repetition, to_simplified
from liveinspect.pipelines.asr.options import TranscribeOptions
from liveinspect.pipelines.asr.transcribe import (
    ChunkTranscript,
    Transcriber,
    Transcript,
    TranscriptSegment,
    Word,
    transcribe_file,
)

__all__ = [
    "ChunkTranscript",
    "PhraseBlocklist",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "TranscriptSegment",
    "WhisperEngine",
    "Word",
    "auto_batch_size",
    "cut_repetition",
    "pick_device",
    "to_simplified",
    "transcribe_file",
]
