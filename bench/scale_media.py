"""Broadcasts made from the shipped demo for the scale benchmark and the fleet tests (PyAV).

    excerpt(src, dst, start=6.5, seconds=6.0)   re-encode a stretch (keeps speech and captions whole)
    loop(src, dst, repeats=2)                   the whole file `repeats` times in a row, packets copied

Copying packets costs almost nothing, so twenty broadcasts of one to three
minutes are made in a few seconds; what the engines then decode and inspect
is real h264/aac with real speech, captions and banners.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def excerpt(src: str | Path, dst: str | Path, *, start: float, seconds: float) -> Path:
    """`seconds` of `src` from `start`, re-encoded (h264 + aac) so the excerpt starts at time zero."""
    dst = Path(dst)
    with av.open(str(src)) as source, av.open(str(dst), "w") as out:
        video_in, audio_in = source.streams.video[0], source.streams.audio[0]
        rate = Fraction(video_in.average_rate or 25).limit_denominator(1000)
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = video_in.width, video_in.height, "yuv420p"
        video.codec_context.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=audio_in.rate)
        source.seek(int(max(start - 1.0, 0) / av.time_base))
        end = start + seconds
        frames = 0
        for frame in source.decode(video_in, audio_in):
            t = float(frame.pts * frame.time_base)
            if t < start or t >= end:
                if t >= end + 1.0:
                    break
                continue
            if isinstance(frame, av.VideoFrame):
                picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                picture.pts, picture.time_base = frames, 1 / rate
                frames += 1
                out.mux(video.encode(picture))
            else:
                frame.pts = round((t - start) * audio_in.rate)
                frame.time_base = Fraction(1, audio_in.rate)
                out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return dst


def loop(src: str | Path, dst: str | Path, *, repeats: int) -> Path:
    """`src` played `repeats` times back to back, its packets copied (no re-encoding)."""
    dst = Path(dst)
    with av.open(str(src)) as first:
        duration = first.duration / av.time_base
    with av.open(str(dst), "w", format="mp4") as out:
        streams = {}
        for turn in range(repeats):
            with av.open(str(src)) as source:
                if not streams:
                    for stream in source.streams:
                        if stream.type in ("video", "audio"):
                            streams[stream.index] = out.add_stream_from_template(stream)
                for packet in source.demux(*[s for s in source.streams if s.index in streams]):
                    if packet.dts is None:
                        continue
                    offset = round(turn * duration / packet.time_base)
                    packet.pts = packet.pts + offset if packet.pts is not None else None
                    packet.dts += offset
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
    return dst
