"""Hostile and malformed requests get a 4xx JSON error that names the problem; the server stays up.

One server without models (texts are checked by the lexicon; no frame or
speech analyzer) and without --allow-private-urls, so the network guard is on.
"""

from __future__ import annotations

import time
import wave

import httpx
import numpy as np
import pytest
from media_factory import make_png_header
from serving_support import ThreadServer, add_key

from liveinspect.serving.app import create_app
from liveinspect.serving.config import ServiceConfig


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("safe")
    config = ServiceConfig(
        data_dir=data,
        analyzers=(),
        settings={"text": {"lexicon_only": True}},
        max_json_bytes=64 * 1024,
        max_image_bytes=100_000,
        max_audio_bytes=4_000_000,
        max_upload_bytes=200_000,
        max_image_pixels=4_000_000,
        rate_limit_per_s=5,
        rate_burst=10,
        job_workers=0,
    )
    key = add_key(data)
    flood_key = add_key(data, "flood")
    with ThreadServer(create_app(config)) as running:
        running.headers = {"Authorization": f"Bearer {key.key}"}
        running.flood_headers = {"Authorization": f"Bearer {flood_key.key}"}
        yield running


def post(server, path, headers=None, **kwargs):
    # This key's bucket is small; a call that meets the rate limit waits for a token and tries again.
    for _ in range(20):
        response = httpx.post(
            server.url + path, headers={**server.headers, **(headers or {})}, timeout=30, **kwargs
        )
        if response.status_code != 429 or response.json()["error"] != "rate_limited":
            return response
        time.sleep(0.3)
    return response


def problem(response, status, code, *words):
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == code, body
    for word in words:
        assert word in body["message"], (word, body["message"])
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_malformed_json_and_wrong_types(server):
    problem(
        httpx.post(
            server.url + "/v1/text",
            content=b'{"items": [',
            headers={**server.headers, "Content-Type": "application/json"},
        ),
        400,
        "invalid_json",
    )
    problem(
        httpx.post(
            server.url + "/v1/jobs",
            content=b'{"source": ',
            headers={**server.headers, "Content-Type": "application/json"},
        ),
        400,
        "invalid_json",
    )
    body = problem(
        post(server, "/v1/text", json={"items": [{"text": 5}]}), 422, "invalid_request", "items.0.text"
    )
    assert body["details"][0]["loc"][-1] == "text"
    problem(post(server, "/v1/text", json={"items": []}), 422, "invalid_request", "items")
    problem(
        post(server, "/v1/text", json={"items": [{"text": "x", "source": "nowhere"}]}),
        422,
        "invalid_request",
        "unknown source",
    )
    problem(
        post(server, "/v1/jobs", json={"source": "https://example.com/a.m3u8", "max_duration": "long"}),
        422,
        "invalid_request",
        "max_duration",
    )
    problem(
        post(server, "/v1/jobs", json={"source": "https://example.com/a.m3u8", "surprise": 1}),
        422,
        "invalid_request",
        "surprise",
    )
    problem(
        post(server, "/v1/jobs", content=b"source=x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    problem(httpx.get(server.url + "/v1/nothing", headers=server.headers), 404, "not_found", "/v1/nothing")


def test_oversized_bodies_and_uploads(server):
    problem(
        post(server, "/v1/text", json={"items": [{"text": "x" * 19_000}] * 5}),
        413,
        "payload_too_large",
        "byte limit",
    )
    # Without a Content-Length the body is counted as it streams in.
    chunks = (b"x" * 50_000 for _ in range(6))
    problem(
        httpx.post(
            server.url + "/v1/jobs",
            headers={**server.headers, "Content-Type": "application/json"},
            content=chunks,
        ),
        413,
        "payload_too_large",
    )
    problem(
        post(server, "/v1/image", files={"file": ("big.png", b"\x89PNG" + b"0" * 150_000, "image/png")}),
        413,
        "payload_too_large",
    )
    problem(
        post(server, "/v1/jobs", files={"file": ("big.mp4", b"0" * 300_000, "video/mp4")}),
        413,
        "payload_too_large",
    )


def test_non_media_and_bombs(server, tmp_path):
    problem(
        post(
            server, "/v1/image", files={"file": ("notes.png", b"just some text, not a picture", "image/png")}
        ),
        422,
        "unreadable_media",
        "not a recognised image",
    )
    bomb = make_png_header(tmp_path / "bomb.png", 50_000, 50_000)
    problem(
        post(server, "/v1/image", files={"file": ("bomb.png", bomb.read_bytes(), "image/png")}),
        413,
        "media_too_large",
        "too large",
    )
    problem(post(server, "/v1/image", files={"file": ("empty.png", b"", "image/png")}), 422, "empty_file")
    problem(
        post(
            server, "/v1/jobs", files={"file": ("clip.mp4", b"this is not a video at all" * 10, "video/mp4")}
        ),
        422,
        "unreadable_media",
    )
    problem(
        post(server, "/v1/audio", files={"file": ("a.wav", b"RIFF....WAVEfmt junk", "audio/wav")}),
        422,
        "unreadable_media",
    )
    long_wav = tmp_path / "long.wav"
    with wave.open(str(long_wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.zeros(8000 * 70, "<i2").tobytes())
    problem(
        post(server, "/v1/audio", files={"file": ("long.wav", long_wav.read_bytes(), "audio/wav")}),
        413,
        "media_too_large",
        "at most 60 s",
    )


@pytest.mark.parametrize(
    "field, url, words",
    [
        ("source", "file:///etc/passwd", ["scheme 'file' is not allowed"]),
        ("source", "http://127.0.0.1:9/live.m3u8", ["loopback"]),
        ("source", "http://10.1.2.3/live.m3u8", ["private"]),
        ("source", "rtmp://[::ffff:127.0.0.1]/live/x", ["127.0.0.1"]),
        ("source", "gopher://example.com/x", ["not allowed"]),
        ("callback_url", "http://169.254.169.254/latest/meta-data", ["metadata"]),
        ("callback_url", "http://192.168.1.20/hook", ["private"]),
        ("cover_url", "http://localhost:8080/cover.png", ["loopback"]),
    ],
)
def test_unsafe_urls_are_refused(server, field, url, words):
    body = {"source": "https://1.1.1.1/live.m3u8"}  # a public address; never fetched (no job workers)
    if field == "cover_url":
        body["broadcast"] = {"cover_url": url}
    else:
        body[field] = url
    answer = problem(post(server, "/v1/jobs", json=body), 422, "unsafe_url", *words)
    assert answer["message"].startswith(field if field != "cover_url" else "broadcast.cover_url")


def test_a_flood_is_rate_limited_and_the_server_stays_up(server):
    statuses, retry = [], None
    with httpx.Client(headers=server.flood_headers, timeout=30) as client:
        for _ in range(40):
            response = client.post(server.url + "/v1/text", json={"items": [{"text": "全网第一"}]})
            statuses.append(response.status_code)
            if response.status_code == 429:
                retry = response.headers["retry-after"]
                assert response.json()["error"] == "rate_limited"
    assert statuses.count(200) >= 10 and statuses.count(429) >= 20, statuses
    assert int(retry) >= 1
    assert httpx.get(server.url + "/healthz").status_code == 200
    # Other keys are not throttled by this one's flood.
    assert post(server, "/v1/text", json={"items": [{"text": "ok"}]}).status_code == 200
