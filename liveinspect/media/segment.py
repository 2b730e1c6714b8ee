"""The unit of work every analyzer reads: one time window of one broadcast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000


@dataclass
class Frame:
    """One RGB frame (H, W, 3, uint8) at broadcast time `t` seconds.

    `index` counts frames kept from the start of the broadcast, so it is a
    stable id for evidence; `scene_change` marks frames kept because the
    picture changed, not because of the sampling clock.
    """

    index: int
    t: float
    image: np.ndarray
    scene_change: bool = False


@dataclass
class Segment:
    """Audio and sampled frames of [t0, t1) seconds of one source.

    `audio` is mono float32 at 16 kHz starting at `t0` (empty when the source
    has no audio). `stream_id` tells segments of concurrent broadcasts apart.
    """

    index: int
    t0: float
    t1: float
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    frames: list[Frame] = field(default_factory=list)
    stream_id: str = "0"
    sample_rate: int = SAMPLE_RATE
    # What the pipelines computed from this segment once for every analyzer that needs it
    # (e.g. "speech_regions": voice activity), filled in before the analyzers see the segment.
    products: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.t1 - self.t0
