"""Local files that would make FFmpeg read other files are refused before opening.

Two text formats FFmpeg recognises by content let one file pull in others:
an `ffconcat` list (the concat demuxer, probed whatever the file is called)
and an HLS playlist. A concat list is never a broadcast, so it is refused. A
local playlist is allowed, but only when every segment and sub-playlist it
names lies inside the playlist's own folder: a URI with a scheme, an
absolute path or a `..` step could reach any file the process may read.

This check reads the playlist the way FFmpeg does (a NUL byte ends a line,
`URI=` may be unquoted, a sub-playlist is known by its content, not its
name) so most bad playlists get a clear error before FFmpeg starts. It is
the early warning, not the enforcement: `opener.SourceOpener` checks every
file FFmpeg actually opens, on every reload of a live playlist.
"""

from __future__ import annotations

import re
from pathlib import Path

from liveinspect.errors import MediaError, UnsafeSourceError

_HEAD_BYTES = 64
_MAX_PLAYLIST_BYTES = 1_000_000
_MAX_PLAYLIST_DEPTH = 3


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_HEAD_BYTES)


# FFmpeg's line reader stops at CR, LF and NUL; str.splitlines knows no NUL.
_LINE_BREAK = re.compile(r"[\r\n\0]")
# Attribute lists (EXT-X-MEDIA, -KEY, -MAP, -I-FRAME-STREAM-INF, -SESSION-DATA): FFmpeg's
# parser takes quoted and unquoted values alike.
_URI_ATTRIBUTE = re.compile(r'(?:^|[:,])\s*URI\s*=\s*("([^"]*)"?|[^,]*)', re.IGNORECASE)


def _playlist_uris(text: str) -> list[str]:
    uris = []
    for line in _LINE_BREAK.split(text):
        line = line.strip()
        if line and not line.startswith("#"):
            uris.append(line)
        elif line.startswith("#"):
            for match in _URI_ATTRIBUTE.finditer(line):
                value = match.group(2) if match.group(2) is not None else match.group(1)
                if value.strip():
                    uris.append(value.strip())
    return uris


def _is_playlist(path: Path) -> bool:
    try:
        return _head(path).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U")
    except OSError:
        return False


def _check_playlist(path: Path, root: Path, display: str, depth: int) -> None:
    if depth > _MAX_PLAYLIST_DEPTH:
        raise MediaError("HLS playlists nest too deeply", source=display)
    if path.stat().st_size > _MAX_PLAYLIST_BYTES:
        raise MediaError("HLS playlist is implausibly large", source=display)
    text = path.read_text(encoding="utf-8", errors="replace")
    for uri in _playlist_uris(text):
        # FFmpeg's file protocol neither %-decodes nor strips a query string.
        name = uri
        target = (path.parent / name).resolve()
        confined = ":" not in uri.split("/", 1)[0] and not name.startswith(("/", "\\")) \
            and target.is_relative_to(root)
        if not confined:
            raise UnsafeSourceError(f"local HLS playlist names {uri!r}, outside its own folder; "
                             "refused so a playlist cannot read other files", source=display)
        if target.is_file() and _is_playlist(target):
            _check_playlist(target, root, display, depth + 1)


def check_local_file(path: Path, display: str) -> None:
    """Raise MediaError if opening `path` would make FFmpeg read files other than it."""
    head = _head(path)
    if head.lstrip().startswith(b"ffconcat"):
        raise UnsafeSourceError("is an FFmpeg concat list, which reads other files; refused",
                         source=display)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U"):
        _check_playlist(path, path.parent.resolve(), display, depth=0)
