"""Local files that would make FFmpeg read other files are refused before opening.

Two text formats FFmpeg recognises by content let one file pull in others:
an `ffconcat` list (the concat demuxer, probed whatever the file is called)
and an HLS playlist. A concat list is never a broadcast, so it is refused. A
local playlist is allowed, but only when every segment and sub-playlist it
names lies inside the playlist's own folder: a URI with a scheme, an
absolute path or a `..` step could reach any file the process may read.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from liveinspect.errors import MediaError

_HEAD_BYTES = 64
_MAX_PLAYLIST_BYTES = 1_000_000
_MAX_PLAYLIST_DEPTH = 3


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_HEAD_BYTES)


def _playlist_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            uris.append(line)
        elif 'URI="' in line:   # EXT-X-MEDIA, EXT-X-KEY, EXT-X-MAP, EXT-X-I-FRAME-STREAM-INF
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
    return uris


def _check_playlist(path: Path, root: Path, display: str, depth: int) -> None:
    if depth > _MAX_PLAYLIST_DEPTH:
        raise MediaError("HLS playlists nest too deeply", source=display)
    if path.stat().st_size > _MAX_PLAYLIST_BYTES:
        raise MediaError("HLS playlist is implausibly large", source=display)
    text = path.read_text(encoding="utf-8", errors="replace")
    for uri in _playlist_uris(text):
        name = unquote(uri.split("?", 1)[0])
        target = (path.parent / name).resolve()
        confined = ":" not in uri.split("/", 1)[0] and not name.startswith(("/", "\\")) \
            and target.is_relative_to(root)
        if not confined:
            raise MediaError(f"local HLS playlist names {uri!r}, outside its own folder; "
                             "refused so a playlist cannot read other files", source=display)
        if target.suffix.lower() in (".m3u8", ".m3u") and target.is_file():
            _check_playlist(target, root, display, depth + 1)


def check_local_file(path: Path, display: str) -> None:
    """Raise MediaError if opening `path` would make FFmpeg read files other than it."""
    head = _head(path)
    if head.lstrip().startswith(b"ffconcat"):
        raise MediaError("is an FFmpeg concat list, which reads other files; refused",
                         source=display)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U"):
        _check_playlist(path, path.parent.resolve(), display, depth=0)
