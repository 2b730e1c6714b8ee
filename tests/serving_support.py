"""What the service tests (and bench/serve.py) share: servers on loopback, keys, test media.

- `ThreadServer`: uvicorn serving an app in a thread of this process.
- `ServerProcess`: `liveinspect serve` as a child process (for kill -9 and two-process tests).
- `CallbackReceiver`: an HTTP receiver on 127.0.0.1 that records callbacks and can fail the first N.
- `FileServer`: serves a folder on 127.0.0.1, optionally slowly (a VOD HLS that takes time to read),
  or as a *live* HLS playlist that grows in wall-clock time.
- `make_qr_video`: a video with QR codes shown at known times (cheap, exact findings).

Every server binds 127.0.0.1 only; every loop here is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_key(data_dir: Path, name: str = "tests", database: str | None = None):
    from liveinspect.serving.service import open_store

    store = open_store(data_dir, database)
    try:
        return store.add_key(name)
    finally:
        store.db.close()


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


# -- servers of the service -------------------------------------------------------------------


class ThreadServer:
    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        wait_until(lambda: self.server.started, 120, message="the server to start")
        wait_until(lambda: _ready(self.url), 120, message="readyz")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class ServerProcess:
    """`liveinspect serve` in a child process; `kill()` is SIGKILL (no shutdown code runs)."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--data", str(data_dir), "--port", str(self.port), "--host", "127.0.0.1", *args]
        self.log_path = log or Path(data_dir) / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "ServerProcess":
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "liveinspect", "serve", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while not _ready(self.url):
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready after {timeout} s:\n{self.log()}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(Exception):
            self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- a callback receiver ----------------------------------------------------------------------


class CallbackReceiver:
    """Records every POST (headers and raw body); answers 500 to the first `fail_first` of each delivery."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                delivery = self.headers.get("X-Liveinspect-Delivery", "")
                with receiver._lock:
                    seen = sum(1 for r in receiver.received if r["delivery"] == delivery)
                    fail = seen < receiver.fail_first
                    receiver.received.append(
                        {
                            "delivery": delivery,
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.time(),
                            "status": 500 if fail else 200,
                        }
                    )
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def accepted(self) -> list[dict]:
        with self._lock:
            return [r for r in self.received if r["status"] == 200]

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.accepted()]

    def __enter__(self) -> "CallbackReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- media over loopback --------------------------------------------------------------------


class FileServer:
    """Serves `root` on 127.0.0.1; each request for a media segment waits `segment_delay_s` first."""

    def __init__(self, root: Path, segment_delay_s: float = 0.0) -> None:
        delay = segment_delay_s

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if delay and self.path.split("?")[0].endswith(".ts"):
                    time.sleep(delay)
                super().do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def qr_picture(payload: str, side: int) -> np.ndarray:
    import qrcode

    code = qrcode.QRCode(border=2, box_size=4)
    code.add_data(payload)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").convert("RGB").resize((side, side))
    return np.asarray(image, dtype=np.uint8)


def make_qr_video(
    path: Path,
    seconds: float,
    shows: Sequence[tuple[float, float, str]],
    *,
    fps: float = 4.0,
    size: tuple[int, int] = (320, 240),
    hls_time: float = 2.0,
) -> Path:
    """A grey video (h264, no audio) with a QR code of `payload` shown during each [t0, t1).

    The container comes from the suffix: .mp4, or .m3u8 for a VOD HLS
    playlist with `hls_time`-second segments beside it.
    """
    path = Path(path)
    hls = path.suffix == ".m3u8"
    # faststart: the index before the media, so the file plays over HTTP without range requests.
    options = {"hls_time": str(hls_time), "hls_playlist_type": "vod"} if hls else {"movflags": "+faststart"}
    rate = Fraction(fps).limit_denominator(1000)
    codes = {payload: qr_picture(payload, min(size) - 40) for _, _, payload in shows}
    with av.open(str(path), "w", format="hls" if hls else None, options=options) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(fps))
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i in range(round(seconds * fps)):
            t = i / fps
            image = np.full((size[1], size[0], 3), 128, np.uint8)
            image[:, : int(size[0] * (t / seconds)) + 1, 1] = 90  # a moving edge: frames differ
            for t0, t1, payload in shows:
                if t0 <= t < t1:
                    picture = codes[payload]
                    y, x = 20, (size[0] - picture.shape[1]) // 2
                    image[y : y + picture.shape[0], x : x + picture.shape[1]] = picture
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# -- a real PostgreSQL server ------------------------------------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL cluster from Debian's `postgresql` package, on 127.0.0.1.

    initdb refuses to run as root, so under root (CI) the cluster belongs to
    the `postgres` user the package creates and its commands run as that user.
    """

    def __init__(self, folder: Path | None = None) -> None:
        import glob
        import shutil
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise AssertionError(
                "PostgreSQL is not installed: apt-get install postgresql (Makefile SYSTEM_PACKAGES)"
            )
        self.bin = Path(bins[-1]).parent
        # Its own folder under /tmp rather than pytest's: pytest keeps resetting its base folder to
        # mode 700, which would lock the postgres user out of a cluster inside it.
        del folder
        self.folder = Path(tempfile.mkdtemp(prefix="liveinspect-pg-"))
        self.data = self.folder / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/liveinspect"
        self._as_postgres = os.geteuid() == 0
        self._shutil = shutil

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")

    def __enter__(self) -> "PostgresServer":
        if self._as_postgres:
            self._shutil.chown(self.folder, "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE liveinspect")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self._shutil.rmtree(self.folder, ignore_errors=True)


class LiveHlsServer:
    """Serves a finished VOD HLS folder as a *live* stream: segment k appears when its end time has passed.

    The playlist is an EVENT playlist that grows in wall-clock time from
    `start()`; the end-list tag appears once every segment is out. So a
    picture at broadcast time t can be read no earlier than `started_at + t`
    (plus the rest of its segment), as from a real live encoder.
    """

    def __init__(self, folder: Path, playlist: str = "show.m3u8") -> None:
        text = (Path(folder) / playlist).read_text()
        self.segments: list[tuple[float, float, str]] = []
        end, duration = 0.0, 0.0
        for line in text.splitlines():
            if line.startswith("#EXTINF:"):
                duration = float(line.split(":", 1)[1].split(",")[0])
            elif line and not line.startswith("#"):
                self.segments.append((end, end + duration, line))
                end += duration
        self.target = max(1, round(max(d[1] - d[0] for d in self.segments)))
        self.started_at: float | None = None
        live = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] != "/live.m3u8":
                    super().do_GET()
                    return
                body = live.playlist().encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.apple.mpegurl")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/live.m3u8"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def playlist(self) -> str:
        elapsed = time.time() - (self.started_at or time.time())
        out = [
            f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{self.target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n"
        ]
        published = [s for s in self.segments if s[1] <= elapsed]
        for t0, t1, name in published:
            out.append(f"#EXTINF:{t1 - t0:.3f},\n{name}\n")
        if len(published) == len(self.segments):
            out.append("#EXT-X-ENDLIST\n")
        return "".join(out)

    def start(self) -> float:
        self.started_at = time.time()
        return self.started_at

    def __enter__(self) -> "LiveHlsServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
