"""Broadcast time: seconds since the source started, whatever its timestamps do."""

from __future__ import annotations

import av

# Timestamps that go back more than this, or jump ahead more than
# _FORWARD_JUMP_S, are a reset (concatenated MPEG-TS, an HLS discontinuity,
# an encoder restart), not real time passing: broadcast time carries on from
# where it was. A real gap shorter than the forward limit is kept as a gap.
_BACKWARD_JUMP_S = 1.0
_FORWARD_JUMP_S = 60.0


def stream_origin(container: av.container.InputContainer) -> float:
    """Seconds on the source clock that count as broadcast time zero."""
    if container.start_time is not None:
        return container.start_time / av.time_base
    starts = [s.start_time * s.time_base for s in container.streams
              if s.start_time is not None and s.time_base is not None]
    return float(min(starts)) if starts else 0.0


class StreamClock:
    """Maps one stream's frame times to broadcast seconds.

    Time zero is the container's start; a timestamp reset shifts the mapping
    so the broadcast clock continues right after the last frame instead of
    jumping back (which would drop everything after it) or far ahead (which
    would invent hours of silence).
    """

    def __init__(self, origin: float) -> None:
        self.offset = -origin
        self.resets = 0
        self._last_end: float | None = None

    def __call__(self, source_time: float | None, duration: float) -> float | None:
        """Broadcast time of a frame at `source_time` lasting `duration` seconds."""
        if source_time is None:
            if self._last_end is None:
                return None
            t = self._last_end
        else:
            t = source_time + self.offset
            last = self._last_end
            if last is not None and (t < last - _BACKWARD_JUMP_S or t > last + _FORWARD_JUMP_S):
                self.offset += last - t
                self.resets += 1
                t = last
        self._last_end = t + duration
        return t
