"""Scoring a transcript of a `corpus.Recording`: invented text, timing error, WER."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from asr_corpus import Recording
from asr_wer import word_error_rate

from liveinspect.pipelines.asr.transcribe import Transcript


@dataclass
class LongformScore:
    wer: float
    utterances: int
    missed_utterances: list[str] = field(default_factory=list)
    words_in_non_speech: list[tuple[str, float, str]] = field(default_factory=list)  # (word, time, kind)
    start_errors_s: list[float] = field(default_factory=list)
    end_errors_s: list[float] = field(default_factory=list)

    @property
    def max_start_error_s(self) -> float:
        return max(self.start_errors_s, default=0.0)

    @property
    def max_end_error_s(self) -> float:
        return max(self.end_errors_s, default=0.0)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("start_errors_s"), out.pop("end_errors_s")
        out.update(max_start_error_s=round(self.max_start_error_s, 3),
                   max_end_error_s=round(self.max_end_error_s, 3),
                   mean_start_error_s=round(sum(self.start_errors_s) / max(len(self.start_errors_s), 1), 3),
                   mean_end_error_s=round(sum(self.end_errors_s) / max(len(self.end_errors_s), 1), 3),
                   wer=round(self.wer, 4))
        return out


def score_longform(recording: Recording, transcript: Transcript, *, margin_s: float = 0.5) -> LongformScore:
    """Words inside non-speech (beyond `margin_s` of its edges) count as invented; each utterance's
    first-word start and last-word end are compared with its true onset and offset."""
    words = transcript.words
    score = LongformScore(wer=word_error_rate(recording.text, transcript.text),
                          utterances=len(recording.utterances))
    for start, end, kind in recording.non_speech:
        for word in words:
            middle = (word.start + word.end) / 2
            if start + margin_s < middle < end - margin_s:
                score.words_in_non_speech.append((word.text, round(middle, 2), kind))
    for utterance in recording.utterances:
        inside = [w for w in words
                  if utterance.start - margin_s <= (w.start + w.end) / 2 <= utterance.end + margin_s]
        if not inside:
            score.missed_utterances.append(utterance.text)
            continue
        score.start_errors_s.append(abs(inside[0].start - utterance.start))
        score.end_errors_s.append(abs(inside[-1].end - utterance.end))
    return score
