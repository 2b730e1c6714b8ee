"""Hostile inputs for the regression tests and the fuzz harness (issue 9), written on the fly.

Each builder writes into a folder it is given and returns the path; nothing
is shipped. The loopback server serves a folder plus a few misbehaving
routes (redirects anywhere, a peer that trickles bytes).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from media_factory import make_video
from PIL import Image

PLAYLIST_HEAD = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"


def make_wav_header(path: Path, *, rate: int, samples: int, channels: int = 1) -> Path:
    """A 16-bit PCM WAV whose header claims `rate` Hz (1 Hz turns 32 KB into hours)."""
    data = (np.sin(np.arange(samples * channels) / 3.0) * 8000).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) + b"data" \
        + struct.pack("<I", len(data))
    path.write_bytes(header + data)
    return path


def make_png_bomb(path: Path, width: int, height: int) -> Path:
    """A real, decodable grayscale PNG of `width` x `height` zeros: a few hundred KB that decode
    to width*height bytes (times 3 as RGB). Unlike media_factory.make_png_header, a loader without
    a pixel limit really allocates it."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)   # filter byte 0, then the row's zeros
    body = b"".join(packer.compress(row * 64) for _ in range(height // 64))
    body += packer.compress(row * (height % 64)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def make_thin_image(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, (250, 250, 250)).save(path)
    return path


def make_thin_video(path: Path, size: tuple[int, int] = (4096, 2), seconds: float = 2.0) -> Path:
    """An H.264 MPEG-TS of pictures `size` (4096x2: OCR would scale it into gigabytes)."""
    return make_video(path, seconds=seconds, fps=5, size=size, with_audio=True)


def make_qr_video(path: Path, payload: str = "https://u.wechat.com/EBxYz12AbCd", seconds: float = 3.0,
                  size: tuple[int, int] = (640, 360)) -> Path:
    """An H.264 MP4 whose frames show one QR code (row 2: the code must be read whatever the
    cover does)."""
    import av
    import qrcode

    width, height = size
    side = min(width, height) * 2 // 3
    code = np.asarray(qrcode.make(payload, border=2).convert("RGB").resize((side, side), 0))
    picture = np.full((height, width, 3), (70, 90, 110), np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    picture[top:top + side, left:left + side] = code
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        for i in range(round(seconds * 5)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class OpenWatch:
    """inotify IN_OPEN/IN_ACCESS on one folder: which of its files anything on this machine opened
    (FFmpeg's opens in C too, which no Python hook sees)."""

    def __init__(self, folder: Path) -> None:
        import ctypes
        import os

        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(folder).encode(), 0x20 | 0x1) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder} failed")

    def names(self, wait_s: float = 0.0) -> list[str]:
        """File names opened since the last call (waiting up to `wait_s` for the first)."""
        import os
        import select

        if wait_s:
            select.select([self.fd], [], [], wait_s)
        found: list[str] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            position = 0
            while position + 16 <= len(data):
                _, mask, _, length = struct.unpack_from("iIII", data, position)
                name = data[position + 16:position + 16 + length].split(b"\0", 1)[0].decode()
                if name and not mask & 0x40000000 and name not in found:   # IN_ISDIR
                    found.append(name)
                position += 16 + length

    def close(self) -> None:
        import os

        os.close(self.fd)


@contextlib.contextmanager
def watch_reads(folder: Path) -> Iterator[list[str]]:
    """Names of the files in `folder` opened while the block ran (filled when it ends). Row 5's
    tests use it to prove a secret was never read, not merely that an error was raised."""
    watch = OpenWatch(folder)
    seen: list[str] = []
    try:
        yield seen
        time.sleep(0.05)
        seen.extend(watch.names())
    finally:
        watch.close()


def make_claim_model(folder: Path, hostile: str | None = None) -> Path:
    """A tiny transformers BERT claim classifier (compliant / absolute_term) saved in `folder`.

    hostile="wider": config.json widened after saving, so every tensor has the wrong shape
    (transformers refuses that itself). hostile="renamed": the weights file's tensors renamed, so
    transformers finds none of the keys it expects and would quietly initialise them at random
    (row 12 of issue 9)."""
    from safetensors.numpy import load_file, save_file
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "全", "网", "第", "一",
                                "加", "微", "信"]))
    labels = {0: "compliant", 1: "absolute_term"}
    config = BertConfig(vocab_size=12, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=32, id2label=labels,
                        label2id={v: k for k, v in labels.items()})
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    if hostile == "wider":
        wider = BertConfig.from_pretrained(folder)
        wider.hidden_size, wider.intermediate_size = 16, 32
        wider.save_pretrained(folder)
    elif hostile == "renamed":
        weights = folder / "model.safetensors"
        tensors = load_file(str(weights))
        save_file({f"other_model.{name}": value for name, value in tensors.items()}, str(weights),
                  metadata={"format": "pt"})
    elif hostile is not None:
        raise ValueError(f"unknown hostile claim model {hostile!r}")
    return folder


def make_secret(folder: Path) -> Path:
    """A valid segment outside the playlists' folder: reading it would be the bypass."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = make_video(folder / "secret.ts", seconds=2.0, fps=5, size=(32, 32))
    make_video(folder / "init.mp4", seconds=1.0, fps=5, size=(32, 32))
    return secret


def hostile_playlists(show: Path) -> dict[str, Path]:
    """Local playlists in `show/` that try to read `../secret/secret.ts` (row 5 of issue 9)."""
    show.mkdir(parents=True, exist_ok=True)
    make_video(show / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    ok = "#EXTINF:2.0,\nok0.ts\n"
    bodies = {
        # A NUL ends FFmpeg's line; str.splitlines sees one comment line.
        "nul.m3u8": PLAYLIST_HEAD + "#EXTINF:2.0,\0../secret/secret.ts\n#EXT-X-ENDLIST\n",
        "map_unquoted.m3u8": PLAYLIST_HEAD + "#EXT-X-MAP:URI=../secret/init.mp4\n" + ok + "#EXT-X-ENDLIST\n",
        "key_unquoted.m3u8": PLAYLIST_HEAD + "#EXT-X-KEY:METHOD=AES-128,URI=../secret/secret.ts\n" + ok
        + "#EXT-X-ENDLIST\n",
        "dotdot.m3u8": PLAYLIST_HEAD + "#EXTINF:2.0,\n../secret/secret.ts\n#EXT-X-ENDLIST\n",
        "absolute.m3u8": PLAYLIST_HEAD + f"#EXTINF:2.0,\n{(show.parent / 'secret' / 'secret.ts')}\n"
        "#EXT-X-ENDLIST\n",
        "file_url.m3u8": PLAYLIST_HEAD + f"#EXTINF:2.0,\nfile:{show.parent / 'secret' / 'secret.ts'}\n"
        "#EXT-X-ENDLIST\n",
        "data_uri.m3u8": PLAYLIST_HEAD + "#EXTINF:2.0,\ndata:video/mp2t;base64,R0lG\n#EXT-X-ENDLIST\n",
    }
    # A sub-playlist named like a segment: FFmpeg knows it by content and recurses.
    (show / "sub.ts").write_text(PLAYLIST_HEAD + "#EXTINF:2.0,\n../secret/secret.ts\n#EXT-X-ENDLIST\n")
    bodies["sub_named_ts.m3u8"] = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nsub.ts\n"
    paths = {"ok.m3u8": show / "ok.m3u8"}
    for name, body in bodies.items():
        (show / name).write_bytes(body.encode("utf-8"))
        paths[name] = show / name
    return paths


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; /redirect?to=URL answers 302 to URL; /trickle sends 2 KB every 2 s;
    /stall sends the first half of stall.ts, then holds the connection open for `stall_s`.

    Every requested path is appended to `requests` (shared by all servers), so a caller can
    tell whether a refused URL was fetched after all."""

    trickle_pause_s = 2.0
    stall_s = 60.0
    requests: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.requests.append(f"{self.server.server_address[0]}{self.path}")
        if self.path.startswith("/stall"):
            data = (Path(self.directory) / "stall.ts").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                time.sleep(self.stall_s)
            return
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        if self.path.startswith("/trickle"):
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            source = Path(self.directory) / "trickle.ts"
            data = source.read_bytes() if source.is_file() else b"\0" * 1_000_000
            with contextlib.suppress(OSError):
                for start in range(0, len(data), 2048):
                    self.wfile.write(data[start:start + 2048])
                    self.wfile.flush()
                    time.sleep(self.trickle_pause_s)
            return
        super().do_GET()


@contextlib.contextmanager
def serve(root: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `root` on `host` (a loopback address; 127.0.0.2 plays an internal service); yields
    the base URL."""
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def copy_hls(source_folder: Path, name: str, target: Path) -> None:
    """Copy an HLS playlist and its segments into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source_folder.iterdir():
        if path.name.startswith(Path(name).stem):
            shutil.copy(path, target / path.name)
