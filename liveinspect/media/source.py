"""Decide what a source is and open it with PyAV under a strict protocol whitelist.

FFmpeg understands far more than files and web URLs: `concat:`, `subfile:`,
`pipe:`, `data:`, `crypto:`, `tcp:` and friends can read local files or
sockets on behalf of whoever wrote the string, and an HLS playlist fetched
over http may name `file:///etc/passwd` as a segment. So a source is
classified here first, anything but a local path or an http(s)/rtmp(s) URL is
refused before FFmpeg sees it, and every open passes `protocol_whitelist` so
that nested opens (playlist segments, redirects) stay inside the same family.

Local files and http(s) URLs are then read through `opener.SourceOpener`
(PyAV's `io_open`), which applies those rules to each file FFmpeg opens, at
the moment it opens it, and fetches http(s) itself so that every URL and
redirect passes the network address filter (`netguard`). rtmp(s) is read by
FFmpeg's own protocol: its URL is checked once, before the connection.
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
from liveinspect.media.netguard import check_url

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
    # Whether network fetches may reach loopback/private addresses (own-network deployments, tests).
    allow_private_urls: bool = False

    @property
    def scheme(self) -> str:
        return "file" if self.local_path is not None else self.url.split(":", 1)[0].lower()


SourceLike = str | os.PathLike


def _local(path: Path, display: str) -> ResolvedSource:
    path = path.expanduser().absolute()
    if not path.exists():
        raise MediaError("file not found", source=display)
    if path.is_dir():
        raise MediaError("is a directory, not a media file", source=display)
    if not path.is_file():
        # /dev/zero, a FIFO or a socket: endless or blocking, and stat() says 0 bytes.
        raise MediaError("is not a regular file (a device, FIFO or socket); give a media file",
                         source=display)
    if path.stat().st_size == 0:
        raise MediaError("file is empty (zero bytes)", source=display)
    check_local_file(path, display)
    # The explicit "file:" prefix stops FFmpeg from reading a name such as
    # "concat:a|b" or "http:x.mp4" as a protocol; everything after it is taken
    # literally as the file name.
    return ResolvedSource(url="file:" + str(path), display=display, is_network=False,
                          options={"protocol_whitelist": _WHITELIST["file"]},
                          local_path=path)


def resolve_source(source: SourceLike, *, allow_private_urls: bool = False) -> ResolvedSource:
    """Classify `source` and refuse anything that is not a local file or an allowed URL.

    A `pathlib.Path` (or any `os.PathLike`) is always a local file, whatever
    its name looks like. A string naming an existing local file is that file
    (so "concat:a|b.mp4" or "http:clip.mp4" in the current directory work);
    otherwise a string is a URL when it starts with an allowed scheme (file,
    http, https, rtmp, rtmps; HLS is http(s) with a .m3u8 playlist), is
    refused when it starts with any other scheme, and is a local path when it
    has none. Nothing is looked up here: a network URL meets the address
    filter (`netguard`) when it is opened, where `allow_private_urls` (kept
    in the result) decides whether loopback and private addresses may be
    reached (metadata endpoints never).
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
                              options={"protocol_whitelist": _WHITELIST[scheme]},
                              allow_private_urls=allow_private_urls)
    raise MediaError(f"unsupported URL scheme {scheme!r}: only local files and "
                     f"{', '.join(sorted(ALLOWED_SCHEMES))} URLs are accepted", source=source)


def describe_av_error(error: BaseException, *, network: bool = False) -> str:
    """Turn an FFmpeg error into a short phrase that names the problem."""
    text = str(error)
    lowered = text.lower()
    if "invalid data" in lowered:
        return f"not a recognised media file or corrupt ({text})"
    if "protocol not on whitelist" in lowered or "not on whitelist" in lowered:
        return f"refers to a protocol that is not allowed ({text})"
    if "end of file" in lowered:
        if network:
            return f"the peer closed the connection before sending media ({text})"
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


def _checked_opener(resolved: ResolvedSource, budget=None):
    """The io_open hook and the name to open for file and http(s) sources (None for rtmp)."""
    from liveinspect.media.httpio import HLS_CONTENT_TYPES, HttpReader
    from liveinspect.media.opener import SourceOpener

    family = resolved.scheme
    if family not in ("file", "http", "https"):
        # rtmp(s): FFmpeg connects by itself; check the address it will reach first.
        check_url(resolved.url, allow_private=resolved.allow_private_urls, schemes=NETWORK_SCHEMES)
        return None, resolved.url, None
    first, name, format_name = None, resolved.url, None
    if family != "file":
        # Open the top level here: redirects are followed (and checked) before
        # FFmpeg sees a name, so relative playlist entries resolve against
        # where the playlist really is.
        first = HttpReader(resolved.url, allow_private=resolved.allow_private_urls,
                           timeouts=NETWORK_TIMEOUT_S, budget=budget)
        name = first.final_url
        if first.content_type in HLS_CONTENT_TYPES:
            format_name = "hls"   # FFmpeg would have known from the MIME type it no longer sees
    opener = SourceOpener(display=resolved.display, family=family,
                          whitelist=_WHITELIST[family], local_path=resolved.local_path,
                          allow_private=resolved.allow_private_urls, timeouts=NETWORK_TIMEOUT_S,
                          first=first, first_url=name, budget=budget)
    return opener, name, format_name


def _is_image_demuxer(name: str) -> bool:
    return name.endswith("_pipe") or name in ("image2", "gif", "webp", "apng")


def _cannot_open(error: MediaError, display: str) -> MediaError:
    """The same kind of error (UnsafeSourceError stays one), worded as a failed open of `display`."""
    text = error.args[0] if error.args else str(error)
    if error.source and error.source != display:
        text = f"{error.source}: {text}"
    return type(error)(f"cannot open: {text}", source=display)


# HLS options needed when FFmpeg's reads go through Python file objects:
# keep-alive reuse and parallel segment fetches assume FFmpeg's own http
# context (hls.c asserts on it), so every segment is a fresh, checked open.
# A live playlist that stops growing is given up after 10 reloads (FFmpeg: 1000).
_HLS_CUSTOM_IO_OPTIONS = {"http_persistent": "0", "http_multiple": "0", "m3u8_hold_counters": "10",
                          "max_reload": "10"}


@contextmanager
def open_container(source: SourceLike | ResolvedSource, *,
                   allow_private_urls: bool = False) -> Iterator[av.container.InputContainer]:
    """Open `source` for reading with the whitelist, the checked opener and, for URLs, a timeout.

    Raises MediaError naming the problem when FFmpeg cannot open it.
    """
    with open_checked(source, allow_private_urls=allow_private_urls) as (container, _):
        yield container


@contextmanager
def open_checked(source: SourceLike | ResolvedSource, *, allow_private_urls: bool = False,
                 budget=None):
    """Like open_container, yielding (container, opener): the SourceOpener (None for rtmp)
    whose `problems` say which nested opens were refused or failed. `budget` (a ReadBudget)
    bounds the time http reads may wait."""
    resolved = source if isinstance(source, ResolvedSource) else \
        resolve_source(source, allow_private_urls=allow_private_urls)
    # Container options reach avformat_open_input and every nested open it
    # makes (playlist segments, redirects); codec contexts do not need them.
    kwargs: dict = {"container_options": dict(resolved.options)}
    # Local sources too: a local live playlist that is never updated (or claims
    # a target duration of a day) would keep FFmpeg reloading and sleeping.
    kwargs["timeout"] = NETWORK_TIMEOUT_S
    try:
        opener, name, format_name = _checked_opener(resolved, budget)
    except MediaError as error:
        raise _cannot_open(error, resolved.display) from error
    if opener is not None:
        kwargs["io_open"] = opener
        kwargs["container_options"].update(_HLS_CUSTOM_IO_OPTIONS)
        if format_name:
            kwargs["format"] = format_name
    if budget is not None:
        budget.begin()   # probing reads the source too
    try:
        container = av.open(name, mode="r", **kwargs)
    except MediaError as error:
        raise _cannot_open(error, resolved.display) from error
    except av.FFmpegError as error:
        refusal = opener.refusal if opener is not None else None
        if refusal is not None:
            raise _cannot_open(refusal, resolved.display) from error
        problem = describe_av_error(error, network=resolved.is_network)
        if isinstance(error, av.error.InvalidDataError) and resolved.local_path is not None:
            problem = diagnose_unreadable(resolved.local_path)
        raise MediaError(f"cannot open: {problem}", source=resolved.display) from error
    except OSError as error:  # PyAV raises OSError subclasses for some I/O failures
        raise MediaError(f"cannot open: {error}", source=resolved.display) from error
    finally:
        if budget is not None:
            budget.end()
    try:
        if container.format.name in _REFUSED_DEMUXERS:
            raise MediaError(f"{container.format.name!r} sources read other files; refused",
                             source=resolved.display)
        audio, video = main_streams(container)
        if (audio, video) == (None, None):
            refusal = opener.refusal if opener is not None else None
            if refusal is not None:
                raise _cannot_open(refusal, resolved.display)
            raise MediaError("has no audio and no video streams", source=resolved.display)
        from liveinspect.media.decoding import check_stream_headers

        check_stream_headers(audio, video, resolved.display)
        if resolved.local_path is not None and _is_image_demuxer(container.format.name):
            from liveinspect.media.image import check_image_header

            check_image_header(resolved.local_path, resolved.display)
        yield container, opener
    finally:
        container.close()
