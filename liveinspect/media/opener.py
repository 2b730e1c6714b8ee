"""Every file FFmpeg opens for one source goes through here, and is checked when it is opened.

A demuxer opens more than the source: an HLS playlist names sub-playlists,
segments, keys and init sections, and a live playlist is fetched again every
few seconds. Checking the playlist text beforehand is not enough: FFmpeg
reads it differently (a NUL byte ends its line, it takes unquoted `URI=`
values, it recurses into a sub-playlist called `sub.ts`) and a live playlist
can change after it was checked. So PyAV's `io_open` hook hands each open to
`SourceOpener`, which sees exactly the URL FFmpeg is about to read, every
time it reads it:

- a local source may open files only inside its own folder (symlinks and
  `..` resolved, checked again on the opened descriptor);
- an http(s) source may open http(s) URLs only, through `HttpReader`, which
  applies the network address filter to every URL and redirect;
- anything else (`data:`, `file:` from a remote playlist, other protocols)
  is refused, following the source family's protocol whitelist.

What was refused or failed to open is kept in `problems`: a skipped segment
is media that was not inspected, and the decoder reports it as such.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from liveinspect.errors import MediaError, UnsafeSourceError
from liveinspect.media.budget import ReadBudget
from liveinspect.media.httpio import AesCbcReader, HttpReader

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_AVIO_FLAG_WRITE = 2
# Problems kept for the report; the first few say what went wrong, thousands would not.
MAX_PROBLEMS_KEPT = 20


class SourceOpener:
    """PyAV `io_open` callback for one source (see the module docstring)."""

    def __init__(self, *, display: str, family: str, whitelist: str, local_path: Path | None,
                 allow_private: bool, timeouts: tuple[float, float],
                 first: io.RawIOBase | None = None, first_url: str | None = None,
                 budget: ReadBudget | None = None) -> None:
        self.display = display
        self.family = family
        self.allowed = frozenset(whitelist.split(","))
        self.local_path = local_path
        self.root = Path(os.path.realpath(local_path.parent)) if local_path is not None else None
        self.allow_private = allow_private
        self.timeouts = timeouts
        self._first, self._first_url = first, first_url
        self.budget = budget
        self.opens = 0
        self.problems: list[MediaError] = []

    def __call__(self, url: str, flags: int, options: dict) -> io.RawIOBase:
        self.opens += 1
        try:
            if flags & _AVIO_FLAG_WRITE:
                raise UnsafeSourceError(f"FFmpeg asked to write {url!r}; refused", source=self.display)
            if self._first is not None and url == self._first_url:
                first, self._first = self._first, None
                return first
            return self._open(url, options)
        except MediaError as error:
            if len(self.problems) < MAX_PROBLEMS_KEPT:
                self.problems.append(error)
            raise

    @property
    def refusal(self) -> UnsafeSourceError | None:
        return next((p for p in self.problems if isinstance(p, UnsafeSourceError)), None)

    def _open(self, url: str, options: dict) -> io.RawIOBase:
        key, iv = None, None
        if url.startswith(("crypto+", "crypto:")):   # HLS AES-128: FFmpeg wraps the segment URL
            if "crypto" not in self.allowed:
                raise UnsafeSourceError(f"encrypted segment {url!r} refused", source=self.display)
            url = url[len("crypto+"):]
            try:
                key, iv = bytes.fromhex(options.get("key", "")), bytes.fromhex(options.get("iv", ""))
            except ValueError as error:
                raise MediaError(f"HLS key or IV for {url!r} is not hex", source=self.display) from error
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else "file"
        if scheme not in self.allowed:
            raise UnsafeSourceError(f"{url!r} uses the {scheme!r} protocol, which a {self.family} source "
                                    f"may not open (allowed: {', '.join(sorted(self.allowed))})",
                                    source=self.display)
        if scheme == "file":
            handle = self._open_local(url[5:] if url.startswith("file:") else url)
        else:
            offset = int(options.get("offset", 0) or 0)
            end = int(options["end_offset"]) if options.get("end_offset") not in (None, "", "0") else None
            handle = HttpReader(url, allow_private=self.allow_private, timeouts=self.timeouts,
                                offset=offset, end=end, budget=self.budget)
        return AesCbcReader(handle, key, iv) if key is not None else handle

    def _open_local(self, name: str) -> io.RawIOBase:
        # FFmpeg's file protocol takes the rest of the URL literally (no %-decoding); so do we.
        target = Path(os.path.realpath(name))
        is_source = self.local_path is not None and name == str(self.local_path)
        if self.root is not None and not is_source and not target.is_relative_to(self.root):
            raise UnsafeSourceError(f"local HLS playlist names {name!r}, outside its own folder; "
                                    "refused so a playlist cannot read other files", source=self.display)
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as error:
            raise MediaError(f"cannot open {name!r}: {error.strerror}", source=self.display) from error
        handle = io.FileIO(fd, "rb", closefd=True)
        try:
            # A folder swapped for a symlink between the check and the open
            # would have led elsewhere: judge the file that was actually opened.
            opened = Path(os.path.realpath(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() \
                else target
            if self.root is not None and not is_source and not opened.is_relative_to(self.root):
                raise UnsafeSourceError(f"{name!r} resolved outside the playlist's folder while "
                                        "being opened; refused", source=self.display)
            if not os.path.isfile(opened):
                raise MediaError(f"{name!r} is not a regular file", source=self.display)
        except BaseException:
            handle.close()
            raise
        return handle
