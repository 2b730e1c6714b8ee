"""Demux and decode with one policy for damage: skip a bad packet, stop on a broken stream."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import av

from liveinspect.errors import MediaError
from liveinspect.media.source import describe_av_error

log = logging.getLogger(__name__)

# Consecutive packets the decoder may reject before the stream counts as
# broken; one bad packet in a live stream should not end the inspection.
MAX_BAD_PACKETS = 25
# A file that ends this much (or 1 % of its length, if more) before the
# duration its header promises is truncated.
TRUNCATION_TOLERANCE_S = 1.0


class FrameDecoder:
    """Decoded frames of some streams of an open container, in demux order.

    `position` tells where decoding has got to (broadcast seconds); it goes
    into the `stopped_at` of the MediaError raised when reading fails or too
    many packets in a row cannot be decoded.
    """

    def __init__(self, container: av.container.InputContainer, streams: list[av.stream.Stream],
                 name: str, position: Callable[[], float]) -> None:
        self.container = container
        self.streams = streams
        self.name = name
        self.position = position
        self.skipped_packets = 0

    def stopped(self, problem: str) -> MediaError:
        return MediaError(problem, source=self.name, stopped_at=self.position())

    def __iter__(self) -> Iterator[av.AudioFrame | av.VideoFrame]:
        demuxer = self.container.demux(*self.streams)
        bad_in_a_row = 0
        while True:
            try:
                packet = next(demuxer)
            except StopIteration:
                break
            except av.FFmpegError as failure:
                raise self.stopped(f"reading the stream failed: {describe_av_error(failure)}") \
                    from failure
            try:
                frames = packet.decode()
            except av.FFmpegError as failure:
                bad_in_a_row += 1
                self.skipped_packets += 1
                if self.skipped_packets == 1:
                    log.warning("%s: skipping undecodable packets (first near %.2f s): %s",
                                self.name, self.position(), failure)
                if bad_in_a_row > MAX_BAD_PACKETS:
                    raise self.stopped(f"{bad_in_a_row} packets in a row could not be decoded "
                                       f"({describe_av_error(failure)})") from failure
                continue
            bad_in_a_row = 0
            yield from frames
        if self.skipped_packets:
            log.warning("%s: %d undecodable packets were skipped in all", self.name,
                        self.skipped_packets)


def header_duration(container: av.container.InputContainer) -> float | None:
    """The duration the container promises (None for live streams and unknowns)."""
    return container.duration / av.time_base if container.duration else None


def _promised(container: av.container.InputContainer, stream: av.stream.Stream | None) -> float | None:
    if stream is None:
        return header_duration(container)
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    # Without a duration of its own, the container's covers every stream; a
    # soundtrack may legitimately end before the pictures, so only trust it
    # when this is the only stream that matters.
    others = [s for s in container.streams if s.type in ("audio", "video") and s is not stream]
    return None if others else header_duration(container)


def truncation(end: float, container: av.container.InputContainer, name: str,
               stream: av.stream.Stream | None = None) -> MediaError | None:
    """A MediaError if decoding reached only `end` seconds of a longer promised duration
    (of `stream`, or of the whole container)."""
    promised = _promised(container, stream)
    if promised is None or end >= promised - max(TRUNCATION_TOLERANCE_S, 0.01 * promised):
        return None
    return MediaError(f"stream ends at {end:.2f} s but its header says {promised:.2f} s; "
                      "the file is probably truncated", source=name, stopped_at=end)
