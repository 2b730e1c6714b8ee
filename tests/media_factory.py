"""Generate small, real media files for tests and benchmarks (PyAV and Pillow).

Every file is encoded by FFmpeg through PyAV, so decoders see what they
would see in the wild: real h264/vp8/vp9/aac/opus/vorbis/mp3/flac bitstreams.

    make_video(path, seconds=5, fps=10, size=(160, 120), container="mp4",
               with_audio=True, cuts=[2.0])     # background colour changes at 2 s
    make_audio(path, seconds=3, sample_rate=44100)   # format from the suffix
    make_image(path, size=(64, 48), exif_orientation=6)

Pictures: a solid background whose colour changes at each time in `cuts`
(a hard scene cut), with a small white square moving across it so
consecutive frames differ a little. Audio: a sine tone.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Background colours, one per scene (RGB); far apart so cuts are unmistakable.
SCENE_COLOURS = [(200, 30, 30), (30, 160, 40), (30, 50, 200), (220, 200, 40), (120, 30, 160)]

# container -> (video codec, audio codec) defaults
VIDEO_CODECS = {
    "mp4": ("libx264", "aac"),
    "mov": ("libx264", "aac"),
    "mkv": ("libx264", "aac"),
    "matroska": ("libx264", "aac"),
    "webm": ("libvpx", "libopus"),
    "ts": ("libx264", "aac"),
    "mpegts": ("libx264", "aac"),
    "avi": ("mpeg4", "libmp3lame"),
    "hls": ("libx264", "aac"),   # path is the .m3u8 playlist; segments land beside it
}
# file suffix -> audio codec for audio-only files
AUDIO_CODECS = {
    "wav": "pcm_s16le",
    "mp3": "libmp3lame",
    "flac": "flac",
    "ogg": "libopus",
    "opus": "libopus",
    "m4a": "aac",
    "mka": "libopus",
}
_FORMAT_NAMES = {"mkv": "matroska", "ts": "mpegts", "m4a": "mp4", "opus": "ogg", "mka": "matroska"}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def sine(seconds: float, sample_rate: int, freq: float = 440.0, amplitude: float = 0.5,
         t0: float = 0.0) -> np.ndarray:
    """A float32 sine tone; `t0` continues the phase of an earlier chunk."""
    t = t0 + np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def scene_colour(t: float, cuts: list[float]) -> tuple[int, int, int]:
    """Background colour at time t: one colour per interval between cuts."""
    scene = sum(1 for cut in sorted(cuts) if t >= cut)
    return SCENE_COLOURS[scene % len(SCENE_COLOURS)]


def video_picture(t: float, size: tuple[int, int], cuts: list[float]) -> np.ndarray:
    """RGB uint8 frame (H, W, 3): scene background, a black strip along the bottom
    (so orientation is visible), and a moving white square."""
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = scene_colour(t, cuts)
    image[height - max(1, height // 8):] = 0
    side = max(2, min(width, height) // 8)
    x = int((t * width / 4) % max(1, width - side))
    y = (height - side) // 2
    image[y:y + side, x:x + side] = 255
    return image


def _audio_stream(container: av.container.OutputContainer, codec: str, sample_rate: int,
                  channels: int) -> av.audio.stream.AudioStream:
    if codec in ("libopus", "opus") and sample_rate not in _OPUS_RATES:
        sample_rate = 48000
    stream = container.add_stream(codec, rate=sample_rate,
                                  layout="mono" if channels == 1 else "stereo")
    if codec == "vorbis":
        stream.codec_context.options = {"strict": "experimental"}
    return stream


def _encode_audio(container: av.container.OutputContainer, stream, seconds: float,
                  freq: float, channels: int, chunk_s: float = 0.5) -> None:
    """Encode a sine tone in chunks so long files never sit in memory."""
    done = 0.0
    while done < seconds - 1e-9:
        step = min(chunk_s, seconds - done)
        _encode_chunk(container, stream, done, step, freq, channels)
        done += step
    container.mux(stream.encode(None))


def make_video(path: str | Path, seconds: float = 5.0, fps: float = 10.0,
               size: tuple[int, int] = (160, 120), container: str | None = None,
               codec: str | None = None, audio_codec: str | None = None,
               with_audio: bool = True, cuts: list[float] | None = None,
               sample_rate: int = 16000, freq: float = 440.0, channels: int = 1,
               gop: int | None = None, rotation: int = 0) -> Path:
    """Write a video of `seconds` at `fps`, background cutting at each time in `cuts`.

    The container comes from the suffix unless given (mp4, mkv, webm, ts, avi);
    codecs default per container (mp4/mkv: h264+aac, webm: vp8+opus).
    `rotation` stores a display rotation (degrees counter-clockwise, as phones
    do for portrait recordings); the encoded pictures stay unrotated.
    Returns the path.
    """
    path = Path(path)
    kind = container or path.suffix.lstrip(".").lower()
    default_video, default_audio = VIDEO_CODECS[kind]
    cuts = list(cuts or [])
    rate = Fraction(fps).limit_denominator(1000)
    options = {"hls_time": "2", "hls_playlist_type": "vod"} if kind == "hls" else {}
    with av.open(str(path), "w", format=_FORMAT_NAMES.get(kind, kind), options=options) as out:
        video = out.add_stream(codec or default_video, rate=rate)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        video.codec_context.gop_size = gop or max(1, round(fps * 2))
        if (codec or default_video) == "libx264":
            video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif (codec or default_video) in ("libvpx", "libvpx-vp9"):
            video.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
        audio = _audio_stream(out, audio_codec or default_audio, sample_rate, channels) \
            if with_audio else None
        # Interleave by time: mux the audio in step with the video so the
        # file is a normal interleaved stream, not all video then all audio.
        n_frames = round(seconds * fps)
        audio_done = 0.0
        step = 1.0
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(video_picture(i / fps, size, cuts), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
            if audio is not None and (i + 1) / fps >= audio_done + step:
                _encode_chunk(out, audio, audio_done, step, freq, channels)
                audio_done += step
        out.mux(video.encode(None))
        if audio is not None:
            if seconds > audio_done:
                _encode_chunk(out, audio, audio_done, seconds - audio_done, freq, channels)
            out.mux(audio.encode(None))
    return path


def _encode_chunk(out, stream, t0: float, seconds: float, freq: float, channels: int) -> None:
    rate = stream.codec_context.sample_rate
    start = round(t0 * rate)
    n = round((t0 + seconds) * rate) - start
    tone = sine(n / rate, rate, freq, t0=start / rate)[:n]
    planes = np.repeat(tone[None, :], channels, axis=0)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format="fltp",
                                       layout="mono" if channels == 1 else "stereo")
    frame.sample_rate = rate
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    out.mux(stream.encode(frame))


def make_audio(path: str | Path, seconds: float = 3.0, format: str | None = None,
               sample_rate: int = 44100, channels: int = 1, freq: float = 440.0,
               codec: str | None = None) -> Path:
    """Write an audio-only file with a sine tone; format from the suffix (wav, mp3, flac,
    ogg/opus, m4a, mka). Returns the path."""
    path = Path(path)
    kind = format or path.suffix.lstrip(".").lower()
    with av.open(str(path), "w", format=_FORMAT_NAMES.get(kind, kind)) as out:
        stream = _audio_stream(out, codec or AUDIO_CODECS[kind], sample_rate, channels)
        _encode_audio(out, stream, seconds, freq, channels)
    return path


def make_image(path: str | Path, size: tuple[int, int] = (64, 48),
               exif_orientation: int | None = None, quality: int = 90) -> Path:
    """Write colour bars (left to right: red, green, blue, white) as jpg/png/webp/...

    `exif_orientation` (1-8) stores an EXIF Orientation tag, so a loader that
    honours it must rotate the pixels. Returns the path.
    """
    path = Path(path)
    width, height = size
    bars = np.zeros((height, width, 3), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    for k, colour in enumerate(colours):
        bars[:, k * width // 4:(k + 1) * width // 4] = colour
    image = Image.fromarray(bars)
    kwargs: dict = {}
    if path.suffix.lower() in (".jpg", ".jpeg", ".webp"):
        kwargs["quality"] = quality
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    image.save(path, **kwargs)
    return path


def make_png_header(path: str | Path, width: int, height: int) -> Path:
    """Write a PNG whose header claims `width` x `height` but carries one tiny data chunk.

    A decompression-bomb stand-in: a loader must refuse it from the header
    alone, before allocating width*height pixels.
    """
    path = Path(path)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def truncate(path: str | Path, fraction: float = 0.5, out: str | Path | None = None) -> Path:
    """Copy the first `fraction` of a file's bytes (to `out`, or in place)."""
    path = Path(path)
    data = path.read_bytes()
    target = Path(out) if out is not None else path
    target.write_bytes(data[:int(len(data) * fraction)])
    return target
