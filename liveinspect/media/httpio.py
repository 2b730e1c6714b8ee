"""HTTP(S) reads for FFmpeg that connect only to addresses the network filter passed.

FFmpeg's own http protocol resolves the host again after we checked it (a
DNS answer can change in between: rebinding) and follows redirects on its
own, to anywhere. So http(s) sources, and every playlist, segment, key and
init section an HLS stream names, are fetched here instead and handed to
FFmpeg as file objects (PyAV's `io_open`): each URL and each redirect hop is
checked by `netguard.check_url`, the socket connects to one of exactly the
addresses that were checked, and TLS still verifies the certificate against
the host name.
"""

from __future__ import annotations

import http.client
import io
import logging
import re
import socket
import ssl
from urllib.parse import urljoin, urlsplit

from liveinspect.errors import MediaError, UnsafeSourceError
from liveinspect.media.budget import ReadBudget
from liveinspect.media.netguard import CheckedURL, check_url

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# A server that ignores a Range request is skipped forward by reading; past
# this many bytes it is cheaper (and safer) to call the source unseekable.
_MAX_SKIP_BYTES = 8_000_000
USER_AGENT = "liveinspect"
HLS_CONTENT_TYPES = frozenset({"application/vnd.apple.mpegurl", "application/x-mpegurl",
                               "audio/mpegurl", "audio/x-mpegurl"})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTPConnection whose socket is already connected to a checked address."""

    def __init__(self, checked: CheckedURL, sock: socket.socket, timeout: float) -> None:
        super().__init__(checked.host, checked.port, timeout=timeout)
        self.sock = sock

    def connect(self) -> None:  # the socket is given; never look the host up again
        if self.sock is None:
            raise OSError("connection already closed")


def _connect(checked: CheckedURL, open_timeout: float, read_timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in checked.addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(open_timeout)
        try:
            sock.connect((str(address), checked.port))
        except OSError as error:
            sock.close()
            last = error
            continue
        sock.settimeout(read_timeout)
        if checked.scheme == "https":
            context = ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=checked.host)
            except (ssl.SSLError, OSError) as error:
                sock.close()
                raise MediaError(f"TLS handshake with {checked.host} ({address}) failed: {error}",
                                 source=checked.url) from error
        return sock
    raise MediaError(f"cannot connect to {checked.host}:{checked.port}: {last}", source=checked.url)


class HttpReader(io.RawIOBase):
    """A read-only, optionally seekable file over HTTP(S), for FFmpeg via PyAV.

    `offset`/`end` select a byte range (HLS EXT-X-BYTERANGE). `final_url` is
    the URL after redirects (relative playlist entries resolve against it).
    Errors are MediaError (UnsafeSourceError for a refused address).
    """

    def __init__(self, url: str, *, allow_private: bool, timeouts: tuple[float, float],
                 offset: int = 0, end: int | None = None, budget: ReadBudget | None = None) -> None:
        super().__init__()
        self.url = url
        self.final_url = url
        self.allow_private = allow_private
        self.open_timeout, self.read_timeout = timeouts
        self.start, self.end = offset, end
        self.budget = budget
        self.size: int | None = None
        self.content_type = ""
        self.accepts_ranges = False
        self._pos = offset
        self._conn: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._broken: MediaError | None = None   # why reads cannot go on after a failed seek
        self._seek_failed: Exception | None = None
        self._open(offset)

    # -- connection ---------------------------------------------------------------------------------
    def _request(self, url: str, offset: int) -> tuple[http.client.HTTPConnection,
                                                      http.client.HTTPResponse, str]:
        for _ in range(MAX_REDIRECTS + 1):
            checked = check_url(url, allow_private=self.allow_private, schemes=("http", "https"))
            sock = _connect(checked, self.open_timeout, self.read_timeout)
            conn = _PinnedConnection(checked, sock, self.read_timeout)
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "close"}
            if offset or self.end is not None:
                headers["Range"] = f"bytes={offset}-{'' if self.end is None else self.end - 1}"
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                raise MediaError(f"HTTP request failed: {_describe(error)}", source=url) from error
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                response.close()
                conn.close()
                if not location:
                    raise MediaError(f"HTTP {response.status} redirect without a Location", source=url)
                url = urljoin(url, location)   # checked at the top of the next hop
                continue
            return conn, response, url
        raise MediaError(f"more than {MAX_REDIRECTS} HTTP redirects", source=self.url)

    def _open(self, offset: int) -> None:
        self._close_response()
        self._broken = None
        conn, response, url = self._request(self.final_url, offset)
        if response.status == 416 and offset > 0:   # a seek at or past the end
            self._conn, self._response, self._pos = conn, None, offset
            return
        if response.status not in (200, 206):
            response.close()
            conn.close()
            raise MediaError(f"HTTP {response.status} {response.reason}", source=url)
        self._conn, self._response, self.final_url = conn, response, url
        self.content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        self.accepts_ranges = response.status == 206 or \
            (response.getheader("Accept-Ranges") or "").lower() == "bytes"
        length = response.getheader("Content-Length")
        match = _CONTENT_RANGE.match(response.getheader("Content-Range") or "")
        if response.status == 206 and match:
            if match.group(3) != "*":
                self.size = int(match.group(3))
        elif length and length.isdigit():
            self.size = int(length)
            if response.status == 200 and offset:
                self._skip(offset)   # the server sent the whole body: read up to the offset
        self._pos = offset

    def _skip(self, count: int) -> None:
        if count > _MAX_SKIP_BYTES:
            raise OSError("server ignores byte ranges; cannot seek this far")
        while count > 0:
            if self.budget is not None:
                self.budget.check(self.final_url)
            try:
                chunk = self._response.read(min(count, 65536))
            except TimeoutError as error:
                raise MediaError(f"network peer did not answer in {self.read_timeout:.0f} s",
                                 source=self.final_url) from error
            except (OSError, http.client.HTTPException) as error:
                raise MediaError(f"connection broke: {_describe(error)}", source=self.final_url) from error
            if not chunk:
                raise MediaError(f"connection closed while seeking ({count:,} bytes short)",
                                 source=self.final_url)
            count -= len(chunk)

    def _close_response(self) -> None:
        if self._response is not None:
            self._response.close()
        if self._conn is not None:
            self._conn.close()
        self._response = self._conn = None

    # -- file protocol ------------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # A server that ignores Range is still seekable by reading forward from the start
        # (up to _MAX_SKIP_BYTES), as FFmpeg's own http protocol does.
        return self.size is not None and self.end is None

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if self._broken is not None:
            raise self._broken
        if self._response is None:
            return b""
        if self.budget is not None:
            self.budget.check(self.final_url)
        if self.end is not None:
            size = min(size if size >= 0 else self.end, self.end - self._pos)
            if size <= 0:
                return b""
        try:
            data = self._response.read1(size if size >= 0 else 1 << 20)
        except TimeoutError as error:
            raise MediaError(f"network peer did not answer in {self.read_timeout:.0f} s",
                             source=self.final_url) from error
        except (OSError, http.client.HTTPException) as error:
            raise MediaError(f"connection broke: {_describe(error)}", source=self.final_url) from error
        if not data and self.size is not None and self._pos < self.size and self.end is None:
            raise MediaError(f"connection closed after {self._pos:,} of {self.size:,} bytes",
                             source=self.final_url)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self.size is None:
                raise OSError("size unknown")
            offset += self.size
        if offset == self._pos:
            return offset
        if not self.seekable():
            raise OSError("this HTTP source cannot seek (no byte-range support)")
        here = self._pos
        if self._seek_failed is not None and not self.accepts_ranges:
            return -1   # skipping forward stalled once; FFmpeg's retries would each wait as long
        try:
            self._open(offset)
        except UnsafeSourceError:
            raise
        except (MediaError, OSError) as error:
            # FFmpeg takes a failed seek in its stride (it seeks near the end of a transport
            # stream only to estimate its duration) and reads on. An exception raised here would
            # instead be kept by PyAV and fail its next, unrelated call: a peer that stalls late
            # in a file (or ignores ranges) made the whole open fail with a traceback. So: say
            # "cannot seek" with a negative result and carry on from where we were.
            log.info("seek to byte %d of %s failed (%s); reading on from byte %d", offset,
                     self.final_url, error, here)
            self._seek_failed = error
            self._close_response()
            self._pos = here
            try:
                self._open(here)
            except (MediaError, OSError) as again:
                self._broken = again if isinstance(again, MediaError) else \
                    MediaError(f"connection broke: {_describe(again)}", source=self.final_url)
            return -1
        return offset

    def close(self) -> None:
        self._close_response()
        super().close()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "network peer did not answer in time"
    return f"{type(error).__name__}: {error}" if not str(error) else str(error)


class AesCbcReader(io.RawIOBase):
    """AES-128-CBC decryption of an HLS segment (EXT-X-KEY METHOD=AES-128), PKCS#7 padding removed.

    FFmpeg's `crypto` protocol would do this, but it can only wrap FFmpeg's own
    protocols, and the inner read must go through the checked reader.
    """

    def __init__(self, inner: io.RawIOBase, key: bytes, iv: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        super().__init__()
        if len(key) != 16 or len(iv) != 16:
            raise MediaError("HLS AES-128 key and IV must be 16 bytes each")
        self._inner = inner
        self._decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._held = b""      # decrypted bytes not yet returned (the last block waits for EOF)
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size >= 0 else 1 << 20
        while len(self._held) <= 16 and not self._done:
            chunk = self._inner.read(max(size, 4096))
            if chunk:
                self._held += self._decryptor.update(chunk)
            else:
                self._held += self._decryptor.finalize()
                self._done = True
                pad = self._held[-1] if self._held else 0
                if 1 <= pad <= 16 and self._held.endswith(bytes([pad]) * pad):
                    self._held = self._held[:-pad]
        # Until EOF keep the final block back: its padding is only known at the end.
        keep = 0 if self._done else 16
        out, self._held = self._held[:max(0, min(size, len(self._held) - keep))], \
            self._held[max(0, min(size, len(self._held) - keep)):]
        return out

    def close(self) -> None:
        self._inner.close()
        super().close()
