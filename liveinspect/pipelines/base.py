"""The analyzer protocol: preprocess -> forward (batched) -> postprocess.

Modelled on Hugging Face pipelines: batching and devices live in the shared
machinery (`batcher.py`, `orchestrator.py`), each analyzer only says how to
turn a segment into model inputs, how to run a batch of inputs, and how to
turn one output back into findings and text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar
from collections.abc import Sequence

import numpy as np

from liveinspect.media.segment import Segment
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


class Analyzer(ABC):
    """One detector over one model backend.

    `preprocess` must be cheap and pure; `forward` gets a list of items from
    any number of segments and streams and returns one output per item, in
    order; `postprocess` maps one (item, output) pair back to findings.
    """

    name: ClassVar[str]
    batch_size: int = 8

    def unavailable_reason(self) -> str | None:
        """Why this analyzer cannot run here (e.g. 'no weights'), or None when it can."""
        return None

    @property
    def model_name(self) -> str:
        return self.name

    @property
    def model_version(self) -> str:
        return "0"

    @abstractmethod
    def preprocess(self, segment: Segment) -> list[Any]:
        """Items of model input cut from one segment (may be empty)."""

    def preprocess_image(self, still: StillImage) -> list[Any]:
        """Items from a still image such as the cover; analyzers that ignore covers return []."""
        return []

    @abstractmethod
    def forward(self, batch: Sequence[Any]) -> list[Any]:
        """Run the model on a batch of items; one output per item."""

    @abstractmethod
    def postprocess(self, item: Any, output: Any) -> AnalyzerOutput:
        """Findings and texts for one item."""

    def component_statuses(self) -> list[AnalyzerStatus]:
        """One status per part, for analyzers made of parts (the frame analyzer's OCR, codes, ...)."""
        return []

    def finish(self, stream_id: str) -> AnalyzerOutput:
        """Called once after a stream's last segment: analyzers that keep state per stream
        return what is left (and a summary in `details`) and drop that state."""
        return AnalyzerOutput()
