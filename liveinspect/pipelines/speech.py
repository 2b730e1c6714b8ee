"""The speech analyzer: voice activity -> batched Whisper -> timed transcript spans.

It emits text, not findings: the text analyzer reads the transcript spans and
turns spoken claims into findings with the spans' broadcast times.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from liveinspect.errors import LiveInspectError
from liveinspect.media.segment import Segment
from liveinspect.models.whisper.options import TranscribeOptions
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StreamState
from liveinspect.pipelines.options import option
from liveinspect.pipelines.registry import register_analyzer
from liveinspect.pipelines.vad import SpeechChunk, VadOptions, speech_chunks
from liveinspect.schema import Modality, TextItem

if TYPE_CHECKING:
    from liveinspect.pipelines.asr import ChunkTranscript, Transcriber


@dataclass(frozen=True)
class SpeechOptions:
    weights: str | None = option(None, flag="--whisper", weights=True,
                                 help="Whisper .pt checkpoint, CTranslate2 folder or model name "
                                      "(default: the packaged multilingual base)")
    language: str | None = option(None, flag="--language",
                                  help="force the spoken language (e.g. zh); default: detected per chunk")
    device: str | None = option(None, flag="--device",
                                help="cuda, cuda:1 or cpu for speech (default: cuda when present)")
    max_batch: int | None = option(None, help="at most this many speech chunks per Whisper batch "
                                              "(default: what fits the device)")
    transcribe: TranscribeOptions = TranscribeOptions()  # decoding options, for library users


@register_analyzer("speech")
class SpeechAnalyzer(Analyzer):
    """Transcribes the speech in every segment; chunks of many segments and streams share batches.

    `weights` is what `resolve_whisper_weights` accepts: None for the packaged
    multilingual base model, a model name, a `.pt` checkpoint or a CTranslate2
    folder. The model loads on first use, so constructing the analyzer is cheap.
    Speech regions come from the shared `speech_regions` product (VAD runs once per segment).
    """

    Options = SpeechOptions
    needs = ("speech_regions",)

    def __init__(self, options: SpeechOptions | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        options = self.options
        self.device = options.device
        self.transcribe_options = options.transcribe if options.language is None else \
            dataclasses.replace(options.transcribe, language=options.language)
        self.vad = self.settings.get("speech_regions") or VadOptions()
        weights = options.weights
        self._transcriber: Transcriber | None = None
        self._lock = threading.Lock()
        self._weights = None
        self._reason: str | None = None
        try:
            from liveinspect.models.whisper import resolve_whisper_weights

            self._weights = resolve_whisper_weights(weights)
        except LiveInspectError as error:
            self._reason = f"no Whisper weights: {error}"

    def unavailable_reason(self) -> str | None:
        if self._reason is None:
            try:
                from liveinspect.pipelines.vad import silero_model_path

                silero_model_path()
            except LiveInspectError as error:
                self._reason = f"no voice activity model: {error}"
        return self._reason

    @property
    def model_name(self) -> str:
        return f"whisper-{self._weights.name}" if self._weights else "whisper"

    @property
    def model_version(self) -> str:
        if self._weights and self._weights.sha256:
            return self._weights.sha256[:12]
        return "unpinned"

    @property
    def transcriber(self) -> Transcriber:
        with self._lock:
            if self._transcriber is None:
                if self._weights is None:
                    raise LiveInspectError(self._reason or "no Whisper weights")
                from liveinspect.models.whisper import load_whisper_model
                from liveinspect.pipelines.asr import Transcriber

                model = load_whisper_model(self._weights)
                self._transcriber = Transcriber(model, device=self.device, options=self.transcribe_options)
            return self._transcriber

    @property  # type: ignore[override]
    def batch_size(self) -> int:
        """The chunks decoded together: what fits the device (the transcriber's), at most `max_batch`."""
        size = self.transcriber.batch_size
        return min(size, self.options.max_batch) if self.options.max_batch else size

    def preprocess(self, segment: Segment, stream: StreamState) -> list[SpeechChunk]:
        if segment.audio is None or len(segment.audio) == 0:
            return []
        return speech_chunks(segment.audio, offset_s=segment.t0, stream_id=segment.stream_id,
                             segment_index=segment.index, options=self.vad,
                             activity=segment.products.get("speech_regions"))

    def forward(self, batch: Sequence[SpeechChunk]) -> list[ChunkTranscript]:
        return self.transcriber.transcribe_chunks(batch)

    def postprocess(self, item: Any, output: ChunkTranscript, stream: StreamState) -> AnalyzerOutput:
        return AnalyzerOutput(texts=[
            TextItem(modality=Modality.speech, text=segment.text, t_start=round(segment.start, 3),
                     t_end=round(segment.end, 3), source="speech",
                     words=[(w.text, round(w.start, 3), round(w.end, 3)) for w in segment.words] or None)
            for segment in output.segments
        ])
