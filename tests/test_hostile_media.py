"""Issue 9, media rows: HLS confinement (5), address filtering (8), wall time (9), header
amplification (10), thin pictures (1) and the smaller media defects of row 15."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_factory import (
    PLAYLIST_HEAD,
    hostile_playlists,
    make_secret,
    make_thin_image,
    make_thin_video,
    make_wav_header,
    serve,
    watch_reads,
)
from media_factory import make_png_header, make_video, truncate

from liveinspect.errors import MediaError, UnsafeSourceError
from liveinspect.media import guard, iter_segments, load_image, netguard, probe
from liveinspect.media.image import check_array
from liveinspect.media.stream import default_read_budget


def _drain(source, **kwargs) -> list:
    return list(iter_segments(source, window_s=1.0, **kwargs))


# -- row 5: local HLS confinement ------------------------------------------------------------------

@pytest.fixture
def playlists(tmp_path):
    make_secret(tmp_path / "secret")
    return hostile_playlists(tmp_path / "show")


@pytest.mark.parametrize("name", ["nul.m3u8", "map_unquoted.m3u8", "key_unquoted.m3u8", "sub_named_ts.m3u8",
                                  "dotdot.m3u8", "absolute.m3u8", "file_url.m3u8"])
def test_local_playlist_bypasses_are_refused(playlists, name):
    with pytest.raises(UnsafeSourceError, match="outside its own folder"):
        _drain(playlists[name])


@pytest.mark.parametrize("name", ["nul.m3u8", "map_unquoted.m3u8", "sub_named_ts.m3u8", "dotdot.m3u8",
                                  "key_unquoted.m3u8"])
def test_every_open_is_checked_even_when_the_text_check_misses(playlists, name, monkeypatch):
    # The pre-check of the playlist text is only an early warning: with it
    # blinded, the opener still refuses what FFmpeg actually tries to read.
    monkeypatch.setattr(guard, "_check_playlist", lambda *args, **kwargs: None)
    with pytest.raises(UnsafeSourceError, match="outside its own folder"):
        _drain(playlists[name])


@pytest.mark.parametrize("name", ["nul.m3u8", "map_unquoted.m3u8", "key_unquoted.m3u8", "sub_named_ts.m3u8",
                                  "dotdot.m3u8", "absolute.m3u8", "file_url.m3u8"])
def test_a_scan_never_reads_outside_the_playlists_folder(playlists, tmp_path, name, capsys):
    # The whole scan, not only the decoder: every part that opens the source (the AI-label
    # metadata reader too) must go through the checked opener. Before, the metadata reader
    # handed the playlist to FFmpeg unguarded and it read ../secret/ while the decoder refused.
    from liveinspect.cli import main

    with watch_reads(tmp_path / "secret") as reads:
        code = main(["scan", str(playlists[name]), "--out", str(tmp_path / "out"), "--analyzers", "none",
                     "--no-progress"])
    assert code == 2 and "outside its own folder" in capsys.readouterr().err
    assert reads == []


def test_a_local_playlist_cannot_make_the_scan_fetch_urls(tmp_path, capsys):
    from hostile_factory import _Handler

    from liveinspect.cli import main

    www = tmp_path / "www"
    www.mkdir()
    make_video(www / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    show = tmp_path / "show"
    show.mkdir()
    with serve(www) as base:
        (show / "p.m3u8").write_text(PLAYLIST_HEAD + f"#EXTINF:2.0,\n{base}/ok0.ts\n#EXT-X-ENDLIST\n")
        before = len(_Handler.requests)
        code = main(["scan", str(show / "p.m3u8"), "--out", str(tmp_path / "out"), "--analyzers", "none",
                     "--no-progress"])
        assert _Handler.requests[before:] == []   # nothing fetched, by the decoder or anyone else
    assert code == 2 and "outside its own folder" in capsys.readouterr().err


def test_data_uris_in_a_playlist_are_refused(playlists):
    with pytest.raises(MediaError, match="data"):
        _drain(playlists["data_uri.m3u8"])


def test_good_local_playlist_still_plays(playlists):
    segments = _drain(playlists["ok.m3u8"])
    assert segments and segments[-1].t1 == pytest.approx(2.0, abs=0.3)


def test_live_playlist_is_rechecked_on_every_reload(tmp_path, monkeypatch):
    from liveinspect.media.opener import SourceOpener

    make_secret(tmp_path / "secret")
    show = tmp_path / "show"
    show.mkdir()
    make_video(show / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    live = show / "live.m3u8"
    live.write_text(PLAYLIST_HEAD.replace("TARGETDURATION:2", "TARGETDURATION:1") + "#EXTINF:2.0,\nok0.ts\n")
    real_open = SourceOpener._open_local
    loads = []

    def open_local(self, name):
        if name.endswith("live.m3u8"):
            loads.append(name)
            if len(loads) == 2:   # the first reload: the playlist changed after it was checked
                live.write_text(live.read_text() + "#EXTINF:2.0,\n../secret/secret.ts\n#EXT-X-ENDLIST\n")
        return real_open(self, name)
    monkeypatch.setattr(SourceOpener, "_open_local", open_local)
    received = []
    with pytest.raises(UnsafeSourceError, match="outside its own folder"):
        for segment in iter_segments(live, window_s=1.0, max_duration=8.0):
            received.append(segment)
    assert len(loads) >= 2
    assert not received or received[-1].t1 <= 2.5   # nothing of the secret's 2 s was decoded


# -- row 8: address filtering for every fetch ------------------------------------------------------

@pytest.fixture
def web(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    make_video(root / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    make_video(root / "clip.mp4", seconds=2.0, fps=5, size=(32, 32))
    with serve(root) as base:
        yield root, base


@pytest.fixture
def loopback_is_public(monkeypatch):
    """Treat 127.0.0.1 (our test server) as a public host, everything else as usual."""
    real = netguard.address_problem

    def problem(address, *, allow_private=False):
        if address == ipaddress.ip_address("127.0.0.1"):
            return None
        return real(address, allow_private=allow_private)
    monkeypatch.setattr(netguard, "address_problem", problem)


def test_loopback_sources_need_the_explicit_option(web):
    _, base = web
    for call in (lambda: probe(f"{base}/ok.m3u8"), lambda: _drain(f"{base}/clip.mp4")):
        with pytest.raises(UnsafeSourceError, match="loopback"):
            call()
    assert probe(f"{base}/ok.m3u8", allow_private_urls=True).has_video


@pytest.mark.parametrize("segment", ["http://127.0.0.2:{port}/ok0.ts", "http://169.254.169.254/latest/x.ts",
                                     "{base}/redirect?to=http://10.0.0.7/ok0.ts",
                                     "{base}/redirect?to=http://[::ffff:127.0.0.2]:{port}/ok0.ts"])
def test_remote_playlist_segments_and_redirects_are_filtered(web, loopback_is_public, segment):
    root, base = web
    port = base.rsplit(":", 1)[1]
    uri = segment.format(base=base, port=port)
    (root / "evil.m3u8").write_text(PLAYLIST_HEAD + f"#EXTINF:2.0,\nok0.ts\n#EXTINF:2.0,\n{uri}\n"
                                    "#EXT-X-ENDLIST\n")
    received = []
    # Refused when FFmpeg first reaches for it: while probing (the open fails) or later (partial).
    with pytest.raises(UnsafeSourceError, match="refusing to fetch"):
        for s in iter_segments(f"{base}/evil.m3u8", window_s=1.0):
            received.append(s)
    assert not received or received[-1].t1 <= 2.5   # nothing past the good segment


def test_key_and_map_uris_are_filtered(web, loopback_is_public):
    root, base = web
    (root / "key.m3u8").write_text(PLAYLIST_HEAD + "#EXT-X-KEY:METHOD=AES-128,URI=http://192.168.0.1/k\n"
                                   "#EXTINF:2.0,\nok0.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(UnsafeSourceError, match="192.168.0.1"):
        _drain(f"{base}/key.m3u8")


def test_top_level_redirect_to_metadata_is_refused(web, loopback_is_public):
    _, base = web
    with pytest.raises(UnsafeSourceError, match="metadata"):
        probe(f"{base}/redirect?to=http://169.254.169.254/latest/meta-data/x.m3u8")
    # A redirect to a public place is followed (here: back to the same server).
    assert probe(f"{base}/redirect?to={base}/ok.m3u8").has_video


def test_connection_goes_to_the_checked_address(web, loopback_is_public, monkeypatch):
    # The host resolves once, to the address that was checked; FFmpeg never resolves it again.
    import socket

    _, base = web
    port = int(base.rsplit(":", 1)[1])
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]]
                   + [[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", port))]] * 50)
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: next(answers) if host == "cdn.test" else real(host, *a, **k))
    with pytest.raises(UnsafeSourceError, match="10.9.9.9"):
        # The playlist is fetched from 127.0.0.1; its segments' lookups now rebind to 10.9.9.9.
        _drain(f"http://cdn.test:{port}/ok.m3u8")


def test_rtmp_addresses_are_checked_before_connecting():
    with pytest.raises(UnsafeSourceError, match="loopback"):
        probe("rtmp://127.0.0.1:1/live/key")


# -- row 9: wall time ------------------------------------------------------------------------------

def test_trickling_peer_cannot_outlast_the_read_budget(web):
    root, base = web
    make_video(root / "trickle.ts", seconds=20.0, fps=5, size=(64, 48))
    started = time.monotonic()
    with pytest.raises(MediaError, match="took more than 3 s"):
        _drain(f"{base}/trickle", allow_private_urls=True, max_duration=2.0, max_read_s=3.0)
    assert time.monotonic() - started < 12
    assert default_read_budget(5.0) == pytest.approx(37.5) and default_read_budget(None) is None


@pytest.mark.slow
def test_a_peer_that_stalls_mid_file_gives_a_partial_scan(tmp_path, monkeypatch, capfd):
    # Row 6, "a mid-stream read timeout": before the fix exit 0; then exit 2 ("cannot open: timed
    # out") with PyAV's dropped-exception traceback, because the open's seek near the end (the
    # duration estimate) timed out and PyAV kept that exception for its next call.
    import json

    from liveinspect.cli import main
    from liveinspect.media import source

    monkeypatch.setattr(source, "NETWORK_TIMEOUT_S", (5.0, 2.0))
    www = tmp_path / "www"
    www.mkdir()
    make_video(www / "stall.ts", seconds=20.0, fps=5, size=(160, 120))
    with serve(www) as base:
        code = main(["scan", f"{base}/stall", "--out", str(tmp_path / "out"), "--analyzers", "none",
                     "--no-progress", "--allow-private-urls"])
    err = capfd.readouterr().err
    assert code == 3 and "incomplete: media partial" in err, err
    assert "Traceback" not in err and "exception being dropped" not in err
    media = json.loads((tmp_path / "out" / "report.json").read_text())["media"]
    assert media["state"] == "partial" and 3 < media["stopped_at"] < 15   # the first half was inspected


# -- row 10: header values that multiply the work --------------------------------------------------

@pytest.mark.parametrize("rate", [1, 100, 3_000_000])
def test_implausible_sample_rates_are_refused(tmp_path, rate):
    path = make_wav_header(tmp_path / f"r{rate}.wav", rate=rate, samples=16_000)
    with pytest.raises(MediaError, match=f"claims {rate} Hz"):
        probe(path)
    with pytest.raises(MediaError, match=f"claims {rate} Hz"):
        _drain(path)


def test_normal_sample_rates_still_decode(tmp_path):
    path = make_wav_header(tmp_path / "ok.wav", rate=8000, samples=16_000)
    assert _drain(path)[-1].t1 == pytest.approx(2.0, abs=0.05)


# -- row 1: thin pictures never reach a model ------------------------------------------------------

@pytest.mark.parametrize("size", [(1280, 2), (2, 1280), (20000, 1), (3000, 100)])
def test_thin_images_are_refused_from_the_header(tmp_path, size):
    with pytest.raises(MediaError, match="thinner|aspect ratio"):
        load_image(make_thin_image(tmp_path / "thin.png", size))


def test_thin_arrays_are_refused_before_ocr():
    with pytest.raises(MediaError, match="thinner"):
        check_array(np.zeros((2, 1280, 3), np.uint8))
    with pytest.raises(MediaError, match="aspect ratio"):
        check_array(np.zeros((40, 1280, 3), np.uint8))
    check_array(np.zeros((720, 1280, 3), np.uint8))


def test_thin_video_frames_are_skipped_and_reported(tmp_path):
    path = make_thin_video(tmp_path / "thin.ts")
    received = []
    with pytest.raises(MediaError, match="video frames were not inspected") as caught:
        for segment in iter_segments(path, window_s=1.0):
            received.append(segment)
    assert caught.value.stopped_at is not None
    assert received and all(not s.frames for s in received)   # audio kept, no thin frame handed out


# -- row 15: the smaller media defects --------------------------------------------------------------

def test_device_files_are_not_called_empty():
    with pytest.raises(MediaError, match="not a regular file"):
        probe("/dev/zero")


def test_truncated_transport_stream_is_partial(tmp_path):
    path = make_video(tmp_path / "full.ts", seconds=4.0, fps=5, size=(64, 48))
    cut = truncate(path, 0.6, out=tmp_path / "cut.ts")
    assert cut.stat().st_size % 188
    with pytest.raises(MediaError, match="truncated") as caught:
        _drain(cut)
    assert caught.value.stopped_at is not None
    _drain(path)   # the whole file is fine


def test_image_sources_obey_the_pixel_limit(tmp_path):
    with pytest.raises(MediaError, match="too large"):
        probe(make_png_header(tmp_path / "bomb.png", 20000, 20000))


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_window_and_fps_must_be_finite_and_positive(tmp_path, value):
    path = make_video(tmp_path / "a.mp4", seconds=1.0, fps=5, size=(32, 32))
    for key in ("window_s", "fps", "max_duration"):
        with pytest.raises(MediaError, match="finite number > 0"):
            next(iter_segments(path, **{key: value}))


def test_symlinked_folder_cannot_lead_out(tmp_path):
    make_secret(tmp_path / "secret")
    show = tmp_path / "show"
    show.mkdir()
    (show / "link").symlink_to(tmp_path / "secret")
    playlist = show / "p.m3u8"
    playlist.write_text(PLAYLIST_HEAD + "#EXTINF:2.0,\nlink/secret.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(UnsafeSourceError):
        _drain(playlist)


def test_opener_is_thread_safe_enough_for_two_scans(tmp_path):
    # Two sources decoded side by side keep their own confinement roots.
    make_secret(tmp_path / "secret")
    paths = hostile_playlists(tmp_path / "show")
    results: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            results[name] = len(_drain(paths[name]))
        except MediaError as error:
            results[name] = type(error).__name__
    threads = [threading.Thread(target=run, args=(n,)) for n in ("ok.m3u8", "dotdot.m3u8")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {"ok.m3u8": 3, "dotdot.m3u8": "UnsafeSourceError"}


def test_fixture_paths_exist(playlists):
    assert all(Path(p).is_file() for p in playlists.values())
