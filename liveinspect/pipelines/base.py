"""The analyzer protocol: preprocess -> forward (batched) -> postprocess.

Modelled on Hugging Face pipelines: batching and devices live in the shared
machinery (`batcher.py`, `orchestrator.py`), each analyzer only says how to
turn a segment into model inputs, how to run a batch of inputs, and how to
turn one output back into findings and text.

Analyzers are shared by every scan an inspector runs, concurrently, so they
hold models and options only. Whatever an analyzer keeps while it follows one
stream (running summaries, text runs, timings) lives in the `StreamState` it
returns from `open_stream`; the orchestrator hands that state back on every
call for the stream and drops it when the scan ends.

Analyzers say what they saw: a finding's kind, score, category and evidence.
Articles, severity and action are the policy's to set (`Policy.grade`, called
by the inspector alone).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from liveinspect.media.segment import Segment
from liveinspect.pipelines.options import NoOptions
from liveinspect.schema import AnalyzerStatus, Finding, Modality, TextItem


@dataclass
class AnalyzerOutput:
    """What one item (or one whole run) contributes to the report."""

    findings: list[Finding] = field(default_factory=list)
    texts: list[TextItem] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # goes to the analyzer's status in the report

    def extend(self, other: "AnalyzerOutput") -> None:
        self.findings.extend(other.findings)
        self.texts.extend(other.texts)
        self.details.update(other.details)


@dataclass
class StillImage:
    """An image that is not a frame of the stream: the cover (Art. 20 item 2)."""

    image: np.ndarray
    modality: Modality = Modality.cover
    name: str = "cover"


@dataclass
class StreamState:
    """What an analyzer keeps about one stream of one scan; subclass it for more."""

    stream_id: str


class Analyzer(ABC):
    """One detector over one model backend.

    Constructed uniformly as `cls(options, policy=policy, settings=settings)`:
    `options` is an instance of `cls.Options` (a frozen dataclass whose fields
    are made with `pipelines.options.option`), `settings` maps other
    components' names (e.g. "frames.ocr") to their options for analyzers made
    of parts. Register a subclass with `@register_analyzer("name")`.

    `preprocess` must be cheap and pure; `forward` gets a list of items from
    any number of segments and streams and returns one output per item, in
    order; `postprocess` maps one (item, output) pair back to findings.
    `needs` names per-segment products (`@register_product`) the analyzer
    reads from `segment.products`, computed once per segment for all analyzers.
    """

    name: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    needs: ClassVar[tuple[str, ...]] = ()
    batch_size: int = 8

    def __init__(self, options: Any = None, *, policy: Any = None,
                 settings: dict[str, Any] | None = None) -> None:
        if options is None:
            options = self.Options()
        elif not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} takes {self.Options.__name__}, "
                            f"got {type(options).__name__}")
        if policy is None:
            from liveinspect.policy import load_policy

            policy = load_policy()
        self.options = options
        self.policy = policy
        self.settings = dict(settings or {})

    def unavailable_reason(self) -> str | None:
        """Why this analyzer cannot run here (e.g. 'no weights'), or None when it can."""
        return None

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def model_version(self) -> str:
        return "0"

    def open_stream(self, stream_id: str) -> StreamState:
        """The state this analyzer keeps for one stream of one scan."""
        return StreamState(stream_id)

    @abstractmethod
    def preprocess(self, segment: Segment, stream: StreamState) -> list[Any]:
        """Items of model input cut from one segment (may be empty)."""

    def preprocess_image(self, still: StillImage, stream: StreamState) -> list[Any]:
        """Items from a still image such as the cover; analyzers that ignore covers return []."""
        return []

    @abstractmethod
    def forward(self, batch: Sequence[Any]) -> list[Any]:
        """Run the model on a batch of items; one output per item."""

    @abstractmethod
    def postprocess(self, item: Any, output: Any, stream: StreamState) -> AnalyzerOutput:
        """Findings and texts for one item."""

    def finish(self, stream: StreamState) -> AnalyzerOutput:
        """Called once after a stream's last segment: what is left (and a summary in `details`)."""
        return AnalyzerOutput()

    def component_statuses(self, stream: StreamState | None = None) -> list[AnalyzerStatus]:
        """One status per part, for analyzers made of parts (the frame analyzer's OCR, codes, ...);
        with `stream`, the parts' figures for that stream (their seconds in the scan)."""
        return []
