"""From speech chunks to timed transcript segments in broadcast time.

`Transcriber.transcribe_chunks` is the batched step the speech analyzer's
`forward` calls (chunks may come from many segments and many streams);
`transcribe_audio` / `transcribe_file` run the whole path for one recording.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from liveinspect.models.whisper.engine import ChunkDecode, WhisperEngine
from liveinspect.models.whisper.options import TranscribeOptions
from liveinspect.models.whisper.runner import WhisperRunner
from liveinspect.models.whisper.timing import WordTiming
from liveinspect.models.whisper.weights import WhisperWeights
from liveinspect.pipelines.asr.filters import PhraseBlocklist, to_simplified
from liveinspect.pipelines.vad import SAMPLE_RATE, SpeechChunk, VadOptions, speech_chunks

_SENTENCE_END = tuple(".?!。？！…")


@dataclass
class Word:
    text: str
    start: float  # broadcast seconds
    end: float


@dataclass
class TranscriptSegment:
    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    language: str = ""
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    stream_id: str = "0"


@dataclass
class ChunkTranscript:
    chunk: SpeechChunk
    decode: ChunkDecode
    segments: list[TranscriptSegment]
    dropped: list[str] = field(default_factory=list)  # sentences removed as hallucinations


@dataclass
class Transcript:
    segments: list[TranscriptSegment]
    duration: float
    chunks: int = 0
    dropped: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        joiner = "" if all(s.language in ("zh", "ja") for s in self.segments) else " "
        return joiner.join(s.text for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


class Transcriber:
    """Whisper with batching, thresholds, filters and word timing; build once, call many times.

    `model`: a `WhisperRunner`, an openai-whisper `Whisper` module, or what
    `load_whisper_model` takes (None for the packaged default, a name, a path, `WhisperWeights`).
    """

    def __init__(self, model: WhisperRunner | Any | str | os.PathLike | None = None, *,
                 device: str | None = None, options: TranscribeOptions = TranscribeOptions()) -> None:
        if model is None or isinstance(model, (str, os.PathLike, WhisperWeights)):
            from liveinspect.models.whisper import load_whisper_model

            model = load_whisper_model(model)
        self.engine = WhisperEngine(model, device=device, options=options)
        self.options = options
        self.blocklist = PhraseBlocklist()

    @property
    def batch_size(self) -> int:
        return self.engine.batch_size

    def transcribe_chunks(self, chunks: Sequence[SpeechChunk]) -> list[ChunkTranscript]:
        """One transcript per chunk, decoded `batch_size` chunks at a time."""
        out: list[ChunkTranscript] = []
        size = self.engine.batch_size
        for start in range(0, len(chunks), size):
            out.extend(self._transcribe_batch(list(chunks[start:start + size])))
        return out

    def _transcribe_batch(self, chunks: list[SpeechChunk]) -> list[ChunkTranscript]:
        if not chunks:
            return []
        features = self.engine.encode([c.audio for c in chunks])
        decodes = self.engine.decode(features)
        words: list[list] = [[] for _ in chunks]
        if self.options.word_timestamps:
            frames = [min(len(c.audio), 30 * SAMPLE_RATE) // 160 for c in chunks]  # mel frames of audio
            words = self.engine.align(features, decodes, frames)
        return [self._chunk_transcript(c, d, w) for c, d, w in zip(chunks, decodes, words, strict=True)]

    def _chunk_transcript(self, chunk: SpeechChunk, decode: ChunkDecode, timings: list) -> ChunkTranscript:
        transcript = ChunkTranscript(chunk, decode, [])
        if not decode.text:
            return transcript
        simplify = self.options.simplify_chinese and decode.language == "zh"
        if timings:
            for timing in timings:
                timing.start, timing.end = chunk.trim_to_voice(timing.start, timing.end)
            groups = self._sentences(chunk, timings)
        else:  # no word timing asked for (or none found): the chunk is one segment
            groups = [[WordTiming(decode.text, decode.tokens, 0.0, chunk.duration, 1.0)]]
        for group in groups:
            text = "".join(t.word for t in group).strip()
            text = to_simplified(text) if simplify else text
            voice = chunk.voice(group[0].start, group[-1].end)
            if self.options.drop_hallucinations and self.blocklist.is_hallucination(text, voice):
                transcript.dropped.append(text)
                continue
            piece = chunk.piece_index(group[0].start)
            words = [Word(to_simplified(t.word.strip()) if simplify else t.word.strip(),
                          chunk.to_broadcast(t.start, piece), chunk.to_broadcast(t.end, piece))
                     for t in group] if timings else []
            transcript.segments.append(TranscriptSegment(
                text=text, start=chunk.to_broadcast(group[0].start, piece),
                end=chunk.to_broadcast(group[-1].end, piece), words=words,
                language=decode.language, avg_logprob=decode.avg_logprob,
                no_speech_prob=decode.no_speech_prob, stream_id=chunk.stream_id))
        return transcript

    def _sentences(self, chunk: SpeechChunk, timings: list[WordTiming]) -> list[list[WordTiming]]:
        """Words (chunk time) grouped at sentence ends, long pauses and left-out silences."""
        groups: list[list[WordTiming]] = []
        for timing in timings:
            previous = groups[-1][-1] if groups else None
            if (previous is None or previous.word.strip().endswith(_SENTENCE_END)
                    or timing.start - previous.end > self.options.max_gap_s
                    or chunk.piece_index(timing.start) != chunk.piece_index(previous.start)):
                groups.append([timing])
            else:
                groups[-1].append(timing)
        return groups

    def transcribe_audio(self, audio: np.ndarray, *, offset_s: float = 0.0, stream_id: str = "0",
                         vad: VadOptions = VadOptions(), progress: bool = False) -> Transcript:
        """Transcribe 16 kHz mono float32 audio of any length."""
        chunks = speech_chunks(audio, offset_s=offset_s, stream_id=stream_id, options=vad)
        size = self.engine.batch_size
        results: list[ChunkTranscript] = []
        with tqdm(total=len(chunks), unit="chunk", desc="transcribe", disable=not progress) as bar:
            for start in range(0, len(chunks), size):
                batch = chunks[start:start + size]
                results.extend(self._transcribe_batch(batch))
                bar.update(len(batch))
        return Transcript(segments=[s for r in results for s in r.segments],
                          duration=len(audio) / SAMPLE_RATE, chunks=len(chunks),
                          dropped=[d for r in results for d in r.dropped])


def transcribe_file(source: str | os.PathLike, *, model: WhisperRunner | Any | str | None = None,
                    options: TranscribeOptions = TranscribeOptions(), device: str | None = None,
                    progress: bool = True) -> Transcript:
    """Transcribe an audio or video file (any format PyAV decodes) with the default weights."""
    from liveinspect.media import load_audio

    audio = load_audio(source)
    return Transcriber(model, device=device, options=options).transcribe_audio(audio, progress=progress)
