"""Which decoded video frames to keep: a sampling clock plus hard scene cuts.

Decoded video runs at 25-60 fps; analyzers want about one picture a second,
plus the first picture after every cut (a product held up for a moment, a
QR code flashed between two sampling ticks). The cut detector compares tiny
thumbnails of consecutive decoded frames, which costs a few microseconds
per frame and needs no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# Mean absolute difference (0..1) between consecutive 32x18 RGB thumbnails
# that counts as a cut. Camera pans and talking heads stay well below 0.1;
# a hard cut between unrelated shots is typically 0.2-0.5.
DEFAULT_SCENE_THRESHOLD = 0.15
# A flickering or strobing picture must not turn every frame into a "cut".
MIN_SCENE_GAP_S = 0.5
_THUMB_SIZE = (32, 18)


def thumbnail(frame: av.VideoFrame, reformatter: VideoReformatter | None = None) -> np.ndarray:
    """A 32x18 RGB float thumbnail in 0..1, cheap enough to compute for every frame.

    Pass a long-lived `reformatter`: it keeps its scaler between calls, which
    makes this ~8x cheaper (0.17 ms instead of 1.4 ms for a 720p frame).
    """
    small = (reformatter or VideoReformatter()).reformat(
        frame, width=_THUMB_SIZE[0], height=_THUMB_SIZE[1], format="rgb24", interpolation="AREA")
    return small.to_ndarray().astype(np.float32) / 255.0


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) shrunk so the longer side is at most `max_side`, aspect kept."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass
class Decision:
    keep: bool
    scene_change: bool


class FrameSampler:
    """Decide per decoded frame (in time order) whether to keep it.

    A frame is kept when the sampling clock ticks (every 1/fps seconds from
    time 0: the first frame at or after each tick) or when it starts a new
    scene. A kept frame that also starts a scene is marked `scene_change`.
    """

    def __init__(self, fps: float, scene_threshold: float | None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / fps
        self.scene_threshold = scene_threshold
        self._next_tick = 0.0
        self._previous: np.ndarray | None = None
        self._last_cut_t = -math.inf
        self._reformatter = VideoReformatter()

    @property
    def detects_scenes(self) -> bool:
        return self.scene_threshold is not None and math.isfinite(self.scene_threshold)

    def decide(self, t: float, frame: av.VideoFrame) -> Decision:
        # Tiny tolerance: a frame at 2.9999999 s is the 3 s tick.
        on_tick = t >= self._next_tick - 1e-6
        if on_tick:
            self._next_tick = (math.floor(t / self.period + 1e-6) + 1) * self.period
        cut = False
        if self.detects_scenes:
            thumb = thumbnail(frame, self._reformatter)
            if self._previous is not None and thumb.shape == self._previous.shape:
                difference = float(np.abs(thumb - self._previous).mean())
                cut = difference > self.scene_threshold and t - self._last_cut_t >= MIN_SCENE_GAP_S
            self._previous = thumb
            if cut:
                self._last_cut_t = t
        return Decision(keep=on_tick or cut, scene_change=cut)
