"""Decode files and live streams into timed segments (PyAV).

    load_audio(source, start=0.0, duration=None) -> np.ndarray   16 kHz mono float32
    load_image(source_or_bytes, max_pixels=40_000_000) -> np.ndarray   RGB uint8
    probe(source) -> MediaInfo
    iter_segments(source, window_s=30.0, fps=1.0, ...) -> Iterator[Segment]

Sources are local paths or file/http/https/rtmp/rtmps URLs (HLS playlists
over http(s)); anything else is refused with MediaError before FFmpeg opens it.
"""

from liveinspect.media.audio import load_audio
from liveinspect.media.image import load_image
from liveinspect.media.probe import MediaInfo, probe
from liveinspect.media.sampling import DEFAULT_SCENE_THRESHOLD
from liveinspect.media.segment import SAMPLE_RATE, Frame, Segment
from liveinspect.media.source import ResolvedSource, resolve_source
from liveinspect.media.stream import iter_segments

__all__ = [
    "DEFAULT_SCENE_THRESHOLD",
    "SAMPLE_RATE",
    "Frame",
    "MediaInfo",
    "ResolvedSource",
    "Segment",
    "iter_segments",
    "load_audio",
    "load_image",
    "probe",
    "resolve_source",
]
