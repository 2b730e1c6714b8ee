"""What a source contains, read from its headers without decoding it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import av

from liveinspect.media.source import SourceLike, main_streams, open_container, resolve_source


@dataclass(frozen=True)
class MediaInfo:
    """Container-level facts about a source.

    `duration` is seconds, or None for a live stream (or a file whose
    container does not record it); `width`, `height` and `fps` describe the
    first video stream and are None without video.
    """

    duration: float | None
    has_audio: bool
    has_video: bool
    width: int | None
    height: int | None
    fps: float | None
    format_name: str
    audio_codec: str | None = None
    video_codec: str | None = None
    sample_rate: int | None = None
    is_network: bool = False

    @property
    def is_live(self) -> bool:
        return self.duration is None and self.is_network

    def to_dict(self) -> dict:
        """Plain JSON-ready fields, `is_live` included."""
        return {**asdict(self), "is_live": self.is_live}


def probe(source: SourceLike, *, allow_private_urls: bool = False) -> MediaInfo:
    """Read `source`'s headers: duration, streams, picture size, frame rate, format.

    Raises MediaError when it cannot be opened or has neither audio nor video
    (UnsafeSourceError when a URL it fetches points at a loopback, private or
    metadata address and `allow_private_urls` is not set).
    """
    resolved = resolve_source(source, allow_private_urls=allow_private_urls)
    with open_container(resolved) as container:
        audio, video = main_streams(container)
        duration = container.duration / av.time_base if container.duration else None
        if duration is None and video is not None and video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        rate = None
        if video is not None:
            rate = video.average_rate or video.guessed_rate or video.base_rate
        return MediaInfo(
            duration=duration,
            has_audio=audio is not None,
            has_video=video is not None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            fps=float(rate) if rate else None,
            format_name=container.format.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            sample_rate=audio.codec_context.sample_rate if audio is not None else None,
            is_network=resolved.is_network,
        )
