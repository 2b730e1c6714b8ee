"""One decoding pass over a file or live stream, cut into rolling time windows."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from liveinspect.errors import MediaError, UnsafeSourceError
from liveinspect.media.audio import AudioTimeline
from liveinspect.media.budget import ReadBudget
from liveinspect.media.clock import StreamClock, stream_origin
from liveinspect.media.decoding import FrameDecoder, header_duration, truncation
from liveinspect.media.image import geometry_problem
from liveinspect.media.sampling import DEFAULT_SCENE_THRESHOLD, FrameSampler, scaled_size
from liveinspect.media.segment import SAMPLE_RATE, Frame, Segment
from liveinspect.media.opener import SourceOpener
from liveinspect.media.source import ResolvedSource, SourceLike, main_streams, open_checked, \
    resolve_source

log = logging.getLogger(__name__)

# Packets of audio and video arrive interleaved but not in perfect time
# order. A window is closed once every stream has passed its end, or once
# any stream is this far past it (so a stream that stalls or ends early
# cannot make us hold the whole broadcast).
_INTERLEAVE_SLACK_S = 5.0


def default_read_budget(max_duration: float | None) -> float | None:
    """Seconds a scan of `max_duration` media seconds may spend waiting on the source.

    A live source delivers about one media second per second; half as much
    again plus half a minute covers start-up and jitter. A peer that trickles
    a few bytes now and then (each read within the network timeout) would
    otherwise keep a bounded scan alive for ever. Without `max_duration` a
    live stream is watched as long as it runs, so there is no budget.
    """
    return None if max_duration is None else 1.5 * max_duration + 30.0

class _Windows:
    """Holds the current window's frames and hands out finished Segments."""

    def __init__(self, window_s: float, stream_id: str, timeline: AudioTimeline | None) -> None:
        self.window_s = window_s
        self.stream_id = stream_id
        self.timeline = timeline
        self.index = 0
        self.frames: list[Frame] = []
        self.late_frames = 0

    @property
    def t0(self) -> float:
        return self.index * self.window_s

    @property
    def t1(self) -> float:
        return (self.index + 1) * self.window_s

    def add_frame(self, frame: Frame) -> None:
        if frame.t < self.t0:
            self.late_frames += 1  # its window was already handed out
            return
        self.frames.append(frame)

    def close(self, t1: float) -> Segment:
        """Hand out [t0, t1) and start the next window."""
        t0 = self.t0
        inside = [f for f in self.frames if f.t < t1]
        self.frames = [f for f in self.frames if f.t >= t1]
        if self.timeline is not None:
            audio = self.timeline.take(round(t0 * SAMPLE_RATE), round(t1 * SAMPLE_RATE))
        else:
            audio = np.zeros(0, np.float32)
        segment = Segment(index=self.index, t0=t0, t1=t1, audio=audio, frames=inside,
                          stream_id=self.stream_id)
        self.index += 1
        return segment


def iter_segments(source: SourceLike, *, window_s: float = 30.0, fps: float = 1.0,
                  scene_threshold: float | None = DEFAULT_SCENE_THRESHOLD, stream_id: str = "0",
                  max_duration: float | None = None, max_side: int | None = 1280,
                  progress: bool = False, allow_private_urls: bool = False,
                  max_read_s: float | None = None) -> Iterator[Segment]:
    """Decode `source` once and yield consecutive Segments of `window_s` seconds.

    Audio (first audio stream) is resampled to 16 kHz mono float32 and each
    segment holds exactly its window's samples (silence where the source had
    none; an empty array when it has no audio at all). Video (first video
    stream) is sampled at `fps` frames per second, plus the first frame of
    every hard scene cut (`scene_threshold`: mean absolute thumbnail
    difference in 0..1; None disables cut detection), and downscaled so the
    longer side is at most `max_side` pixels and turned upright when the
    stream carries a display rotation. `Frame.index` counts kept frames from
    the start; every time is broadcast seconds from the start of the source
    (its container start time is time zero; timestamp resets, as in spliced
    MPEG-TS or HLS discontinuities, do not move the clock back). Only the
    current window is held in memory, so a stream of any length can be read.
    `max_duration` stops after that many seconds; `progress` shows a tqdm
    bar. Sources: local paths, file/http/https/rtmp/rtmps URLs, HLS
    playlists over http(s).

    Errors: a source that cannot be opened, is empty or has neither audio nor
    video raises MediaError before anything is yielded (this is a generator:
    on the first `next`). A single undecodable packet is skipped with a
    warning; more than 25 in a row count as a broken stream. When decoding fails
    part way (a broken stream, a dropped connection, a file that ends before
    the duration its header promises), every complete segment decoded so far
    and then the partial last one are yielded first, and only then MediaError
    is raised with `stopped_at` = the broadcast time in seconds where decoding
    stopped. The caller keeps what it was given and may report the rest as
    not inspected. A file a playlist names that was refused (outside the
    playlist's folder, a private address) or could not be fetched is such a
    partial decode too.

    Network URLs, redirects and every URL a playlist names must pass the
    address filter (`netguard`) unless `allow_private_urls`. `max_read_s`
    bounds the seconds spent waiting on the source (default: see
    `default_read_budget`); past it decoding stops as a partial decode.
    """
    _check_positive("window_s", window_s)
    _check_positive("fps", fps)
    if max_duration is not None:
        _check_positive("max_duration", max_duration)
    if max_read_s is None:
        max_read_s = default_read_budget(max_duration)
    else:
        _check_positive("max_read_s", max_read_s)
    resolved = resolve_source(source, allow_private_urls=allow_private_urls)
    budget = ReadBudget(max_read_s)
    with open_checked(resolved, budget=budget) as (container, opener):
        reader = _Reader(container, resolved, window_s, FrameSampler(fps, scene_threshold),
                         stream_id, max_duration, max_side, opener=opener, budget=budget)
        total = reader.header_end if max_duration is None else max_duration
        bar = _progress_bar(progress, total, resolved.display)
        try:
            yield from reader.run(bar)
        finally:
            if bar is not None:
                bar.close()


def _check_positive(name: str, value: float) -> None:
    # NaN compares false with everything, so `value <= 0` would let it through
    # (and a NaN window makes zero segments that look like a clean scan).
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise MediaError(f"{name} must be a finite number > 0, got {value}")


class _Reader:
    """The state of one decoding pass: clocks, audio timeline, frame sampler, open window."""

    def __init__(self, container: av.container.InputContainer, resolved: ResolvedSource,
                 window_s: float, sampler: FrameSampler, stream_id: str,
                 max_duration: float | None, max_side: int | None, *,
                 opener: SourceOpener | None = None, budget: ReadBudget | None = None) -> None:
        self.container = container
        self.resolved = resolved
        self.opener = opener
        self.name = resolved.display
        self.sampler = sampler
        self.max_duration = max_duration
        self.max_side = max_side
        self.audio_stream, self.video_stream = main_streams(container)
        self.streams = [s for s in (self.audio_stream, self.video_stream) if s is not None]
        for stream in self.streams:
            stream.thread_type = "AUTO"
        origin = stream_origin(container)
        self.audio_clock, self.video_clock = StreamClock(origin), StreamClock(origin)
        self.timeline = AudioTimeline() if self.audio_stream is not None else None
        self.windows = _Windows(window_s, stream_id, self.timeline)
        self.header_end = header_duration(container)
        self.frame_period = _frame_period(self.video_stream, sampler)
        self.reformatter = VideoReformatter()  # reused: it keeps its scaler between frames
        # How far (broadcast seconds) each stream has been decoded.
        self.reached = {s.index: 0.0 for s in self.streams}
        self.kept = 0
        self.decoder = FrameDecoder(container, self.streams, self.name,
                                    position=lambda: max(self.reached.values()),
                                    budget=budget, network=resolved.is_network)
        self.error: MediaError | None = None
        # Decoded pictures no model may see (geometry_problem): counted, reported, never kept.
        self.refused_frames = 0
        self.frame_problem: str | None = None

    @property
    def decoded_until(self) -> float:
        """Broadcast time every stream has reached."""
        return min(self.reached.values())

    def run(self, bar) -> Iterator[Segment]:
        limit_reached = False
        try:
            for frame in self.decoder:
                if isinstance(frame, av.AudioFrame):
                    self.on_audio(frame)
                else:
                    self.on_video(frame)
                yield from self.close_finished()
                if bar is not None:
                    bar.update(max(0.0, self.decoded_until - bar.n))
                if self.max_duration is not None and self.decoded_until >= self.max_duration:
                    limit_reached = True
                    break
        except MediaError as error:
            self.error = error   # raised again after the partial windows are out
        yield from self.finish(limit_reached)

    def on_audio(self, frame: av.AudioFrame) -> None:
        self.timeline.push(frame, self.audio_clock(frame.time, frame.samples / frame.sample_rate))
        index = self.audio_stream.index
        self.reached[index] = max(self.reached[index], self.timeline.end_time)

    def on_video(self, frame: av.VideoFrame) -> None:
        t = self.video_clock(frame.time, self.frame_period)
        if t is None or t < -1e-6:
            # No timestamp and nothing before it to count from, or pre-roll
            # before the broadcast start (edit lists, B-frame delay).
            return
        t = max(t, 0.0)
        index = self.video_stream.index
        # A frame shows from t until the next one: count its duration as decoded.
        self.reached[index] = max(self.reached[index], t + self.frame_period)
        if self.max_duration is not None and t >= self.max_duration:
            return
        problem = geometry_problem(frame.width, frame.height)
        if problem:
            self.refused_frames += 1
            self.frame_problem = problem
            return
        decision = self.sampler.decide(t, frame)
        if decision.keep:
            image = _picture(frame, self.max_side, self.reformatter)
            self.windows.add_frame(Frame(index=self.kept, t=t, image=image,
                                         scene_change=decision.scene_change))
            self.kept += 1

    def close_finished(self) -> Iterator[Segment]:
        """Yield every window that all streams (or, with slack, any stream) have passed."""
        while True:
            t1 = self.windows.t1
            if self.max_duration is not None and t1 > self.max_duration:
                return
            if self.decoded_until >= t1 or max(self.reached.values()) >= t1 + _INTERLEAVE_SLACK_S:
                yield self.windows.close(t1)
            else:
                return

    def finish(self, limit_reached: bool) -> Iterator[Segment]:
        """Hand out the rest (complete windows, then the partial last one), then raise any error."""
        if self.error is None and not limit_reached and self.timeline is not None:
            self.timeline.flush()
            index = self.audio_stream.index
            self.reached[index] = max(self.reached[index], self.timeline.end_time)
        end = max(self.reached.values())
        if self.max_duration is not None:
            end = min(end, self.max_duration)
        if self.error is None and not limit_reached:
            self.error = truncation(end, self.container, self.name, local_path=self.resolved.local_path)
        if self.error is None and self.opener is not None and self.opener.problems:
            self.error = _skipped_files(self.opener, self.name, end)
        if self.error is None and self.refused_frames:
            self.error = MediaError(f"{self.refused_frames} video frames were not inspected: "
                                    f"{self.frame_problem}", source=self.name, stopped_at=end)
        if self.error is None and end <= 0.0 and self.kept == 0:
            self.error = MediaError("no audio or video could be decoded", source=self.name,
                                    stopped_at=0.0)
        while self.windows.t1 < end - 1e-9:
            yield self.windows.close(self.windows.t1)
        if end > self.windows.t0 + 1e-9:
            yield self.windows.close(end)
        self.log_summary()
        if self.error is not None:
            raise self.error

    def log_summary(self) -> None:
        resets = max(self.audio_clock.resets, self.video_clock.resets)
        if resets:
            log.warning("%s: timestamps reset %d times; broadcast time carried on across them",
                        self.name, resets)
        if self.windows.late_frames:
            log.warning("%s: %d frames arrived after their window was closed and were dropped",
                        self.name, self.windows.late_frames)


def _skipped_files(opener: SourceOpener, name: str, end: float) -> MediaError:
    """A partial-decode error for files the stream named that were refused or failed to open."""
    first = opener.problems[0]
    count = len(opener.problems)
    more = f" (and {count - 1} more)" if count > 1 else ""
    kind = UnsafeSourceError if opener.refusal is not None else MediaError
    detail = str(opener.refusal or first)
    return kind(f"{count} file(s) the stream named were not read, so their media was not inspected: "
                f"{detail}{more}", source=name, stopped_at=end)


def _frame_period(stream: av.video.stream.VideoStream | None, sampler: FrameSampler) -> float:
    if stream is None:
        return 0.0
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1.0 / float(rate) if rate else sampler.period


def _picture(frame: av.VideoFrame, max_side: int | None, reformatter: VideoReformatter) -> np.ndarray:
    width, height = scaled_size(frame.width, frame.height, max_side)
    interpolation = None if (width, height) == (frame.width, frame.height) else "AREA"
    rgb = reformatter.reformat(frame, width=width, height=height, format="rgb24",
                               interpolation=interpolation).to_ndarray()
    # Phones record portrait video as landscape pictures plus a display
    # rotation (counter-clockwise degrees); analyzers must see it upright.
    quarter_turns = round(frame.rotation / 90) % 4 if frame.rotation else 0
    if quarter_turns:
        rgb = np.rot90(rgb, k=quarter_turns)
    # to_ndarray may be a padded view into FFmpeg's buffer; kept frames own
    # compact memory so the decoder's frame can be freed.
    return np.array(rgb, dtype=np.uint8, order="C", copy=True)


def _progress_bar(enabled: bool, total: float | None, name: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="s", desc=f"decoding {name}", leave=False,
                bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s [{elapsed}<{remaining}]")
