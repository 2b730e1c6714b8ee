"""Decide what a source is and open it with PyAV under a strict protocol whitelist.

FFmpeg understands far more than files and web URLs: `concat:`, `subfile:`,
`pipe:`, `data:`, `crypto:`, `tcp:` and friends can read local files or
sockets on behalf of whoever wrote the string, and an HLS playlist fetched
over http may name `file:///etc/passwd` as a segment. So a source is
classified here first, anything but a local path or an http(s)/rtmp(s) URL is
refused before FFmpeg sees it, and every open passes `protocol_whitelist` so
that nested opens (playlist segments, redirects) stay inside the same family.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

from liveinspect.errors import MediaError
from liveinspect.media.guard import check_local_file

# Seconds to wait for a network peer before giving up (open, then each read).
NETWORK_TIMEOUT_S = (15.0, 30.0)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")

# Which protocols FFmpeg may use, per source family. http(s) needs tcp/tls
# underneath and crypto for AES-128 encrypted HLS segments; "file" is never in
# a network list, so a remote playlist cannot pull local files.
_WHITELIST = {
    "file": "file",
    "http": "http,https,tcp,tls,crypto",
    "https": "http,https,tcp,tls,crypto",
    "rtmp": "rtmp,rtmps,tcp,tls",
    "rtmps": "rtmp,rtmps,tcp,tls",
}
# Demuxers that open further files named inside the source (belt and braces:
# guard.check_local_file refuses concat lists before FFmpeg sees them).
_REFUSED_DEMUXERS = frozenset({"concat"})
NETWORK_SCHEMES = frozenset({"http", "https", "rtmp", "rtmps"})
ALLOWED_SCHEMES = NETWORK_SCHEMES | {"file"}


@dataclass(frozen=True)
class ResolvedSource:
    """A source FFmpeg may open: the string to hand it, and the options to pass."""

    url: str
    display: str
    is_network: bool
    options: dict[str, str] = field(default_factory=dict)
    local_path: Path | None = None


SourceLike = str | os.PathLike


def _local(path: Path, display: str) -> ResolvedSource:
    path = path.expanduser().absolute()
    if not path.exists():
        raise MediaError("file not found", source=display)
    if path.is_dir():
        raise MediaError("is a directory, not a media file", source=display)
    if path.stat().st_size == 0:
        raise MediaError("file is empty (zero bytes)", source=display)
    check_local_file(path, display)
    # The explicit "file:" prefix stops FFmpeg from reading a name such as
    # "concat:a|b" or "http:x.mp4" as a protocol; everything after it is taken
    # literally as the file name.
    return ResolvedSource(url="file:" + str(path), display=display, is_network=False,
                          options={"protocol_whitelist": _WHITELIST["file"]},
                          local_path=path)


def resolve_source(source: SourceLike) -> ResolvedSource:
    """Classify `source` and refuse anything that is not a local file or an allowed URL.

    A `pathlib.Path` (or any `os.PathLike`) is always a local file, whatever
    its name looks like. A string naming an existing local file is that file
    (so "concat:a|b.mp4" or "http:clip.mp4" in the current directory work);
    otherwise a string is a URL when it starts with an allowed scheme (file,
    http, https, rtmp, rtmps; HLS is http(s) with a .m3u8 playlist), is
    refused when it starts with any other scheme, and is a local path when it
    has none.
    """
    if isinstance(source, os.PathLike):
        path = Path(os.fspath(source))
        return _local(path, str(path))
    if not isinstance(source, str):
        raise MediaError(f"unsupported source type {type(source).__name__}; "
                         "pass a path or a URL string")
    if not source.strip():
        raise MediaError("empty source name")
    match = _SCHEME.match(source)
    scheme = match.group(1).lower() if match else None
    # One letter before the colon is a Windows drive, not a scheme.
    if scheme is None or len(scheme) == 1 or Path(source).is_file():
        return _local(Path(source), source)
    if scheme == "file":
        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise MediaError(f"file URL with a remote host {parts.netloc!r} is not supported",
                             source=source)
        return _local(Path(unquote(parts.path)), source)
    if scheme in NETWORK_SCHEMES:
        if not urlsplit(source).netloc:
            raise MediaError(f"{scheme} URL has no host", source=source)
        return ResolvedSource(url=source, display=source, is_network=True,
                              options={"protocol_whitelist": _WHITELIST[scheme]})
    raise MediaError(f"unsupported URL scheme {scheme!r}: only local files and "
                     f"{', '.join(sorted(ALLOWED_SCHEMES))} URLs are accepted", source=source)


def describe_av_error(error: BaseException) -> str:
    """Turn an FFmpeg error into a short phrase that names the problem."""
    text = str(error)
    lowered = text.lower()
    if "invalid data" in lowered:
        return f"not a recognised media file or corrupt ({text})"
    if "protocol not on whitelist" in lowered or "not on whitelist" in lowered:
        return f"refers to a protocol that is not allowed ({text})"
    if "end of file" in lowered:
        return f"file ends too early, probably truncated ({text})"
    if "timed out" in lowered or "timeout" in lowered or "immediate exit" in lowered:
        return f"network peer did not answer in time ({text})"
    return text


def main_streams(container: av.container.InputContainer) -> tuple[
        av.audio.stream.AudioStream | None, av.video.stream.VideoStream | None]:
    """The first audio stream and the first real video stream.

    Cover art embedded in mp3/m4a files shows up as a one-frame video stream
    (disposition "attached_pic"); it is not the broadcast's picture.
    """
    audio = container.streams.audio[0] if container.streams.audio else None
    video = next((s for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic), None)
    return audio, video


# Leading bytes of containers, to tell "damaged file of a known kind" from
# "not media at all" when FFmpeg only says "Invalid data".
_MAGIC = (
    (4, b"ftyp", "MP4/MOV"),
    (0, b"\x1aE\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "RIFF (WAV/AVI)"),
    (0, b"ID3", "MP3"),
    (0, b"fLaC", "FLAC"),
    (0, b"OggS", "Ogg"),
    (0, b"FLV", "FLV"),
)


def diagnose_unreadable(path: Path) -> str:
    """Name why a local file FFmpeg calls "invalid data" is unreadable, from its first bytes."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"#EXTM3U"):
        return "is an HLS playlist, which FFmpeg only reads when it is named .m3u8"
    for offset, magic, kind in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return f"looks like a {kind} file but is damaged or truncated"
    try:
        head.decode("utf-8")
        is_text = b"\0" not in head
    except UnicodeDecodeError:
        is_text = False
    if is_text:
        return "is a text file, not audio or video (wrong file type)"
    return "not a recognised audio/video format (wrong file type or corrupt)"


@contextmanager
def open_container(source: SourceLike | ResolvedSource) -> Iterator[av.container.InputContainer]:
    """Open `source` for reading with the whitelist and, for URLs, a timeout.

    Raises MediaError naming the problem when FFmpeg cannot open it.
    """
    resolved = source if isinstance(source, ResolvedSource) else resolve_source(source)
    # Container options reach avformat_open_input and every nested open it
    # makes (playlist segments, redirects); codec contexts do not need them.
    kwargs: dict = {"container_options": dict(resolved.options)}
    if resolved.is_network:
        kwargs["timeout"] = NETWORK_TIMEOUT_S
    try:
        container = av.open(resolved.url, mode="r", **kwargs)
    except av.FFmpegError as error:
        problem = describe_av_error(error)
        if isinstance(error, av.error.InvalidDataError) and resolved.local_path is not None:
            problem = diagnose_unreadable(resolved.local_path)
        raise MediaError(f"cannot open: {problem}", source=resolved.display) from error
    except OSError as error:  # PyAV raises OSError subclasses for some I/O failures
        raise MediaError(f"cannot open: {error}", source=resolved.display) from error
    try:
        if container.format.name in _REFUSED_DEMUXERS:
            raise MediaError(f"{container.format.name!r} sources read other files; refused",
                             source=resolved.display)
        if main_streams(container) == (None, None):
            raise MediaError("has no audio and no video streams", source=resolved.display)
        yield container
    finally:
        container.close()
