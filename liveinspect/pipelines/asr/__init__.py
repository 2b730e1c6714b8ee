"""Speech chunks to timed transcripts: batched Whisper (engine in `liveinspect.models.whisper`),
hallucination filters and the transcript model. Importing it loads no torch."""

from liveinspect.models.whisper.engine import WhisperEngine
from liveinspect.models.whisper.options import TranscribeOptions
from liveinspect.models.whisper.repetition import cut_repetition
from liveinspect.pipelines.asr.filters import PhraseBlocklist, to_simplified
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
    "cut_repetition",
    "to_simplified",
    "transcribe_file",
]
