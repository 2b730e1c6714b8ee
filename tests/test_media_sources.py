"""Which sources are opened, how, and what a hostile playlist can reach (loopback only)."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest
from media_factory import make_video

from liveinspect.errors import MediaError
from liveinspect.media import iter_segments, probe, resolve_source
from liveinspect.media import source as source_module


@pytest.mark.parametrize("url", [
    "concat:a.mp4|b.mp4", "subfile:,start,0,end,100,:/etc/passwd", "pipe:0", "data:video/mp4;base64,AAAA",
    "crypto:/etc/passwd", "tcp://127.0.0.1:9", "udp://127.0.0.1:9", "ftp://example.com/a.mp4",
    "gopher://example.com/", "async:file:/etc/passwd", "cache:/etc/passwd", "srt://127.0.0.1:9",
])
def test_foreign_schemes_are_refused_before_ffmpeg_sees_them(url):
    with pytest.raises(MediaError, match="unsupported URL scheme"):
        resolve_source(url)
    with pytest.raises(MediaError, match="unsupported URL scheme"):
        next(iter_segments(url))


@pytest.mark.parametrize("url,whitelist", [
    ("http://example.com/live/index.m3u8", "http,https,tcp,tls,crypto"),
    ("https://cdn.example.com/a.mp4", "http,https,tcp,tls,crypto"),
    ("rtmp://example.com/live/key", "rtmp,rtmps,tcp,tls"),
    ("rtmps://example.com/live/key", "rtmp,rtmps,tcp,tls"),
])
def test_network_urls_get_a_whitelist_without_file(url, whitelist):
    resolved = resolve_source(url)
    assert resolved.is_network and resolved.url == url
    assert resolved.options["protocol_whitelist"] == whitelist
    assert "file" not in resolved.options["protocol_whitelist"].split(",")


def test_local_paths_and_file_urls(tmp_path):
    path = make_video(tmp_path / "a b.mp4", seconds=1.0, fps=5, size=(32, 32))
    resolved = resolve_source(path)
    assert not resolved.is_network and resolved.options == {"protocol_whitelist": "file"}
    assert resolved.url == "file:" + str(path)
    assert resolve_source(path.as_uri()).local_path == path
    with pytest.raises(MediaError, match="remote host"):
        resolve_source("file://fileserver/share/a.mp4")
    with pytest.raises(MediaError, match="no host"):
        resolve_source("http:/only-a-path.mp4")
    with pytest.raises(MediaError, match="empty source"):
        resolve_source("  ")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def media_http_root(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 for the duration of a test; yields (root, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_hls_playlist_over_http(media_http_root):
    root, base = media_http_root
    make_video(root / "live.m3u8", seconds=5.0, fps=10, size=(64, 48), container="hls", cuts=[2.5])
    url = f"{base}/live.m3u8"
    info = probe(url, allow_private_urls=True)
    assert info.format_name == "hls" and info.has_audio and info.has_video and info.is_network
    segments = list(iter_segments(url, window_s=2.0, fps=1.0, allow_private_urls=True))
    assert [s.t0 for s in segments] == [0.0, 2.0, 4.0]
    assert segments[-1].t1 == pytest.approx(5.0, abs=0.2)
    frames = [f for s in segments for f in s.frames]
    assert sum(f.scene_change for f in frames) == 1
    assert len(frames) == 6   # ticks 0..4 plus the cut


def test_hls_playlist_cannot_pull_local_files(media_http_root, tmp_path, monkeypatch):
    root, base = media_http_root
    # A perfectly good local segment, named by a file:// URL in a remote playlist.
    make_video(root / "real.m3u8", seconds=2.0, fps=10, size=(64, 48), container="hls")
    local_segment = (root / "real0.ts").resolve()
    secret = tmp_path / "secret.ts"
    secret.write_bytes(local_segment.read_bytes())
    header = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    (root / "evil.m3u8").write_text(f"{header}#EXTINF:2.0,\n{secret.as_uri()}\n#EXT-X-ENDLIST\n")
    (root / "passwd.m3u8").write_text(f"{header}#EXTINF:2.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    for playlist in ("evil.m3u8", "passwd.m3u8"):
        with pytest.raises(MediaError, match="cannot open|no audio and no video"):
            list(iter_segments(f"{base}/{playlist}", allow_private_urls=True))
    # The same bytes served over http play, and the same playlist opens once
    # "file" is whitelisted: the refusal above is the whitelist's doing.
    assert probe(f"{base}/real.m3u8", allow_private_urls=True).has_video
    monkeypatch.setitem(source_module._WHITELIST, "http", "http,https,tcp,tls,crypto,file")
    assert probe(f"{base}/evil.m3u8", allow_private_urls=True).has_video


def test_network_open_times_out(monkeypatch):
    # A peer that accepts the connection and then says nothing.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    monkeypatch.setattr(source_module, "NETWORK_TIMEOUT_S", (1.0, 1.0))
    started = time.monotonic()
    try:
        with pytest.raises(MediaError, match="cannot open"):
            probe(f"http://127.0.0.1:{listener.getsockname()[1]}/stalled.m3u8",
                  allow_private_urls=True)
    finally:
        listener.close()
    assert time.monotonic() - started < 10


def test_refused_connection_is_a_media_error():
    probe_socket = socket.socket()
    probe_socket.bind(("127.0.0.1", 0))
    port = probe_socket.getsockname()[1]
    probe_socket.close()   # nothing listens there now
    with pytest.raises(MediaError, match="cannot open"):
        probe(f"rtmp://127.0.0.1:{port}/live/key", allow_private_urls=True)


def test_path_objects_never_become_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "http:").mkdir()
    path = Path("http:") / "host.mp4"
    make_video(tmp_path / path, seconds=1.0, fps=5, size=(32, 32))
    assert resolve_source(path).local_path == (tmp_path / path)
    assert probe(path).has_video


def test_connection_dropped_mid_transfer_keeps_what_was_decoded(tmp_path):
    data = make_video(tmp_path / "vod.mkv", seconds=12.0, fps=5, size=(64, 48), gop=5).read_bytes()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve_half_then_hang_up() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.recv(65536)
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/x-matroska\r\n"
                           + f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:len(data) // 2])
            client.close()

    threading.Thread(target=serve_half_then_hang_up, daemon=True).start()
    received = []
    try:
        with pytest.raises(MediaError) as caught:
            for segment in iter_segments(f"http://127.0.0.1:{listener.getsockname()[1]}/vod.mkv",
                                         window_s=2.0, allow_private_urls=True):
                received.append(segment)
    finally:
        listener.close()
    stopped_at = caught.value.stopped_at
    assert stopped_at is not None and 3.0 < stopped_at < 9.0
    assert [s.t0 for s in received] == [2.0 * k for k in range(len(received))]
    assert received[-1].t1 == pytest.approx(stopped_at)
    assert sum(len(s.frames) for s in received) >= 3


def test_live_hls_has_no_duration_and_max_duration_bounds_the_read(media_http_root):
    root, base = media_http_root
    make_video(root / "vod.m3u8", seconds=6.0, fps=10, size=(64, 48), container="hls")
    playlist = (root / "vod.m3u8").read_text()
    # Without ENDLIST a playlist is live: more segments may come.
    (root / "live.m3u8").write_text(playlist.replace("#EXT-X-ENDLIST\n", "")
                                    .replace("#EXT-X-PLAYLIST-TYPE:VOD\n", ""))
    info = probe(f"{base}/live.m3u8", allow_private_urls=True)
    assert info.duration is None and info.is_live
    assert probe(f"{base}/vod.m3u8", allow_private_urls=True).duration == pytest.approx(6.0, abs=0.2)
    started = time.monotonic()
    segments = list(iter_segments(f"{base}/live.m3u8", window_s=1.0, max_duration=3.0,
                                  allow_private_urls=True))
    assert time.monotonic() - started < 5
    assert [(s.t0, s.t1) for s in segments] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert all(len(s.frames) == 1 for s in segments)


def _local_playlist(folder: Path, name: str, segment_uri: str) -> Path:
    path = folder / name
    path.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
                    f"#EXTINF:2.0,\n{segment_uri}\n#EXT-X-ENDLIST\n")
    return path


def test_local_playlists_stay_inside_their_folder(tmp_path):
    show = tmp_path / "show"
    show.mkdir()
    make_video(show / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    assert probe(show / "ok.m3u8").has_video                   # segments beside it: fine
    private = tmp_path / "private.ts"
    private.write_bytes((show / "ok0.ts").read_bytes())
    for uri in (str(private), "../private.ts", private.as_uri(), "http://127.0.0.1:9/x.ts"):
        playlist = _local_playlist(show, "evil.m3u8", uri)
        with pytest.raises(MediaError, match="outside its own folder"):
            probe(playlist)
    # A nested playlist is checked too.
    _local_playlist(show, "inner.m3u8", "../private.ts")
    (show / "outer.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\ninner.m3u8\n")
    with pytest.raises(MediaError, match="outside its own folder"):
        probe(show / "outer.m3u8")


def test_concat_lists_are_refused_whatever_their_name(tmp_path):
    make_video(tmp_path / "a.ts", seconds=1.0, fps=5, size=(32, 32))
    for name in ("list.ffconcat", "innocent.mp4"):
        (tmp_path / name).write_text("ffconcat version 1.0\nfile a.ts\nfile a.ts\n")
        with pytest.raises(MediaError, match="concat list"):
            probe(tmp_path / name)
    disguised = tmp_path / "playlist.mp4"
    make_video(tmp_path / "p.m3u8", seconds=1.0, fps=5, size=(32, 32), container="hls")
    disguised.write_bytes((tmp_path / "p.m3u8").read_bytes())
    with pytest.raises(MediaError, match="HLS playlist"):
        probe(disguised)
