"""Demux and decode with one policy for damage: skip a bad packet, stop on a broken stream."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import av

from liveinspect.errors import MediaError
from liveinspect.media.budget import ReadBudget
from liveinspect.media.source import describe_av_error

log = logging.getLogger(__name__)

# Consecutive packets the decoder may reject before the stream counts as
# broken; one bad packet in a live stream should not end the inspection.
MAX_BAD_PACKETS = 25
# A file that ends this much (or 1 % of its length, if more) before the
# duration its header promises is truncated.
TRUNCATION_TOLERANCE_S = 1.0
# Audio sample rates a real recording has. A header claiming 1 Hz turns a
# 32 KB file into hours of "media" once resampled to 16 kHz (and the
# resampler's output into gigabytes); telephone audio is 8 kHz.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 768_000
MAX_CHANNELS = 64


class FrameDecoder:
    """Decoded frames of some streams of an open container, in demux order.

    `position` tells where decoding has got to (broadcast seconds); it goes
    into the `stopped_at` of the MediaError raised when reading fails or too
    many packets in a row cannot be decoded.
    """

    def __init__(self, container: av.container.InputContainer, streams: list[av.stream.Stream],
                 name: str, position: Callable[[], float], *, budget: ReadBudget | None = None,
                 network: bool = False) -> None:
        self.container = container
        self.streams = streams
        self.name = name
        self.position = position
        # Seconds spent inside the demuxer (reading and waiting on the source),
        # not counting the time the caller spends on what was yielded.
        self.budget = budget or ReadBudget(None)
        self.network = network
        self.skipped_packets = 0

    def stopped(self, problem: str, kind: type[MediaError] = MediaError) -> MediaError:
        return kind(problem, source=self.name, stopped_at=self.position())

    def __iter__(self) -> Iterator[av.AudioFrame | av.VideoFrame]:
        demuxer = self.container.demux(*self.streams)
        bad_in_a_row = 0
        while True:
            self.budget.begin()
            try:
                packet = next(demuxer)
            except StopIteration:
                break
            except MediaError as failure:   # raised by the checked reader under FFmpeg
                detail = failure.args[0] if failure.args else str(failure)
                if failure.source and failure.source != self.name:
                    detail = f"{failure.source}: {detail}"
                raise self.stopped(f"reading the stream failed: {detail}", type(failure)) from failure
            except av.FFmpegError as failure:
                raise self.stopped("reading the stream failed: "
                                   f"{describe_av_error(failure, network=self.network)}") from failure
            finally:
                self.budget.end()
            if self.budget.exceeded():
                raise self.stopped(f"the source took more than {self.budget.limit_s:.0f} s to deliver "
                                   "its media (a peer sending too slowly); stopped")
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


def check_stream_headers(audio: av.audio.stream.AudioStream | None,
                         video: av.video.stream.VideoStream | None, name: str) -> None:
    """Refuse header values that would multiply the work or the memory before decoding starts.

    Audio: see MIN_SAMPLE_RATE. Video: a picture over the pixel limit (an
    image SOURCE decoded by FFmpeg, a crafted stream) is refused before its
    first frame is decoded; thin pictures are refused frame by frame.
    """
    if video is not None:
        from liveinspect.media.image import DEFAULT_MAX_PIXELS

        width, height = video.codec_context.width or 0, video.codec_context.height or 0
        if width * height > DEFAULT_MAX_PIXELS:
            raise MediaError(f"video picture is too large: {width}x{height} = {width * height:,} pixels "
                             f"exceeds the limit of {DEFAULT_MAX_PIXELS:,}", source=name)
    if audio is None:
        return
    rate = audio.codec_context.sample_rate or 0
    if rate and not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise MediaError(f"audio header claims {rate} Hz, outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz; "
                         "refused (a crafted header would stretch a small file into hours of audio)",
                         source=name)
    channels = audio.codec_context.channels or 0
    if channels > MAX_CHANNELS:
        raise MediaError(f"audio header claims {channels} channels (at most {MAX_CHANNELS}); refused",
                         source=name)


# MPEG-TS has no duration in its header; a file cut inside a 188-byte packet
# (192 for M2TS) is the one sign of truncation it leaves.
_TS_PACKET_SIZES = {"mpegts": (188, 192, 204)}


def _cut_transport_stream(container: av.container.InputContainer, local_path: Path | None) -> bool:
    sizes = _TS_PACKET_SIZES.get(container.format.name)
    if sizes is None or local_path is None:
        return False
    size = local_path.stat().st_size
    return all(size % packet for packet in sizes)


def truncation(end: float, container: av.container.InputContainer, name: str,
               stream: av.stream.Stream | None = None, *,
               local_path: Path | None = None) -> MediaError | None:
    """A MediaError if decoding reached only `end` seconds of a longer promised duration
    (of `stream`, or of the whole container), or a local transport stream was cut mid-packet."""
    if _cut_transport_stream(container, local_path):
        return MediaError("MPEG-TS file ends inside a transport packet; the file is truncated",
                          source=name, stopped_at=end)
    promised = _promised(container, stream)
    if promised is None or end >= promised - max(TRUNCATION_TOLERANCE_S, 0.01 * promised):
        return None
    return MediaError(f"stream ends at {end:.2f} s but its header says {promised:.2f} s; "
                      "the file is probably truncated", source=name, stopped_at=end)
