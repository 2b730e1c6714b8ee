"""The HTTP API end to end against a live uvicorn server on loopback (one per module).

The server runs the frame analyzer with OCR and QR codes (no faces, no speech)
and the shipped text models; media comes from loopback servers, so private
URLs are allowed here (test_serving_safety.py covers the refusals).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serving_support import (
    CallbackReceiver,
    FileServer,
    ThreadServer,
    add_key,
    make_qr_video,
    qr_picture,
    wait_until,
)

from liveinspect.schema import Report
from liveinspect.serving import Client, ServiceError, verify_signature
from liveinspect.serving.app import create_app
from liveinspect.serving.config import ServiceConfig

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
QR_SHOWS = [(1.0, 3.0, "https://u.wechat.com/EXAMPLEone"), (5.0, 7.0, "https://u.wechat.com/EXAMPLEtwo")]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    make_qr_video(folder / "qr.mp4", 8.0, QR_SHOWS)
    (folder / "slow").mkdir()
    make_qr_video(
        folder / "slow" / "live.m3u8", 30.0, [(1.0, 2.0, "https://u.wechat.com/EXAMPLEslow")], hls_time=1.0
    )
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("service")
    config = ServiceConfig(
        data_dir=data,
        analyzers=("frames",),
        settings={"frames.faces": {"enabled": False}},
        allow_private_urls=True,
        window_s=2.0,
        fps=2.0,
        max_pending_items=8,
        rate_limit_per_s=0,
        callback_backoff_s=0.2,
        callback_max_attempts=5,
        lease_s=5.0,
    )
    key = add_key(data)
    with ThreadServer(create_app(config)) as running:
        running.key = key
        running.data = data
        yield running


@pytest.fixture
def client(server):
    with Client(server.url, server.key.key) as c:
        yield c


def test_health_ready_and_openapi(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["status"] == "ready"
    assert {a["name"] for a in ready["analyzers"] if a["state"] == "ran"} >= {
        "frames",
        "frames.ocr",
        "frames.qr",
    }
    schema = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/text", "/v1/image", "/v1/audio", "/v1/jobs", "/v1/jobs/{job_id}/events"} <= set(
        schema["paths"]
    )
    bodies = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(bodies) == {"application/json", "multipart/form-data"}


def test_every_v1_call_needs_a_key(server):
    missing = httpx.post(server.url + "/v1/text", json={"items": [{"text": "x"}]})
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert "Bearer" in missing.json()["message"] and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(server.url + "/v1/jobs/job_" + "0" * 32, headers={"Authorization": "Bearer lik_nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    assert wrong.headers["x-request-id"]


def test_text_results_per_item(client):
    results = client.check_text(
        [
            {"text": "全网第一的面霜 加微信 abc123 私聊", "source": "comment"},
            {"text": "今天天气很好", "source": "title"},
            {"text": "全网第一的面霜 加微信 abc123 私聊", "source": "comment"},
        ]
    )
    assert len(results) == 3
    kinds = {f["kind"] for f in results[0]["findings"]}
    assert {"absolute_term", "offplatform_lure"} <= kinds
    assert {f["modality"] for f in results[0]["findings"]} == {"onscreen_text"}
    assert results[0]["action"] != "none" and results[0]["suggestion"] in ("review", "block")
    assert results[1] == {"findings": [], "action": "none", "suggestion": "pass", "severity": None}
    assert results[2]["findings"] == results[0]["findings"]


def test_image_qr_code_and_cover_text(client, tmp_path):
    from PIL import Image

    Image.fromarray(qr_picture("https://u.wechat.com/EXAMPLEimg", 300)).save(tmp_path / "qr.png")
    frame = client.check_image(tmp_path / "qr.png")
    codes = [f for f in frame["findings"] if f["evidence"]["payload"] == "https://u.wechat.com/EXAMPLEimg"]
    assert codes and codes[0]["modality"] == "frame"
    cover = client.check_image(DEMO / "cover.png", modality="cover")
    assert {"absolute_term", "false_efficacy"} <= {f["kind"] for f in cover["findings"]}
    assert {f["modality"] for f in cover["findings"]} == {"cover"}
    assert any("国家级" in t["text"] for t in cover["texts"])


def test_metrics_show_batches_queue_jobs_and_statuses(server, client):
    client.check_text(["全网第一"])
    text = httpx.get(server.url + "/metrics").text
    for needle in (
        'liveinspect_batch_size_bucket{le="1.0",model="frames"}',
        "liveinspect_queue_depth{model=",
        'liveinspect_jobs{state="queued"}',
        'liveinspect_http_requests_total{method="POST",route="/v1/text"',
        'liveinspect_batch_seconds_count{model="frames"}',
        "liveinspect_item_latency_seconds_bucket",
    ):
        assert needle in text, needle
    assert 'status="401"' in text


def test_url_job_streams_findings_calls_back_and_keeps_a_report(server, client, media):
    with FileServer(media) as files, CallbackReceiver(fail_first=2) as receiver:
        job = client.submit_job(
            source=f"{files.url}/qr.mp4",
            callback_url=receiver.url,
            broadcast={
                "title": "全网最低价 今晚秒杀",
                "account": "小店",
                "products": [{"name": "面霜", "price": 99}],
            },
        )
        assert job["state"] == "queued"
        events = list(client.events(job["id"], timeout=120))
        final = client.wait(job["id"], timeout=60)
        wait_until(
            lambda: (
                all(d["state"] == "delivered" for d in client.job(job["id"])["deliveries"])
                and client.job(job["id"])["deliveries"]
            ),
            60,
            message="callbacks delivered",
        )
        final = client.job(job["id"])
    assert final["state"] == "succeeded", final
    payloads = {f["evidence"]["payload"] for f in final["findings"] if f["evidence"]["payload"]}
    assert payloads == {payload for _, _, payload in QR_SHOWS}
    assert any(f["modality"] == "title" for f in final["findings"])
    # Events: each stored finding once, in order, then the final state and the end.
    streamed = [e.data for e in events if e.event == "finding"]
    assert len(streamed) == len(final["findings"]) and streamed == final["findings"]
    assert [e.event for e in events][-2:] == ["state", "end"] and events[-1].data["state"] == "succeeded"
    # Callbacks: the receiver failed every delivery twice; each was retried with the same id.
    secret = server.key.webhook_secret
    accepted = receiver.accepted()
    for delivery in final["deliveries"]:
        log = delivery["attempt_log"]
        assert [a["status"] for a in log] == [500, 500, 200], delivery
        assert delivery["attempts"] == 3
    tries = {}
    for request in receiver.received:
        tries.setdefault(request["delivery"], []).append(request)
    assert all(len(t) == 3 for t in tries.values())
    assert {verify_signature(r["body"], r["headers"], secret) for r in accepted} == set(tries)
    events_called = [json.loads(r["body"]) for r in accepted]
    assert {e["event"] for e in events_called} == {"job.state", "job.finding"}
    assert {e["job"]["state"] for e in events_called if e["event"] == "job.state"} == {"running", "succeeded"}
    called_findings = [e["finding"] for e in events_called if e["event"] == "job.finding"]
    assert sorted(json.dumps(f, sort_keys=True) for f in called_findings) == sorted(
        json.dumps(f, sort_keys=True) for f in final["findings"] if f["severity"] != "info"
    )
    # The report is the toolkit's schema, the HTML and thumbnails are served.
    report = Report.model_validate(client.report(job["id"]))
    assert report.media.state == "complete" and report.media.duration_s >= 7.5
    assert "<html" in client.report_html(job["id"]).lower()
    thumb = next(
        f["evidence"]["thumbnail"] for f in report.model_dump()["findings"] if f["evidence"]["thumbnail"]
    )
    image = httpx.get(
        f"{server.url}/v1/jobs/{job['id']}/{thumb}", headers={"Authorization": f"Bearer {server.key.key}"}
    )
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


def test_upload_job_and_cancelling_a_running_job(server, client, media):
    upload = client.submit_job(file=media / "qr.mp4", broadcast={"title": "今天上新"})
    with FileServer(media / "slow", segment_delay_s=0.6) as files:
        slow = client.submit_job(source=f"{files.url}/live.m3u8")
        wait_until(
            lambda: client.job(slow["id"])["progress"].get("media_seconds", 0) >= 2,
            60,
            message="the slow job to get going",
        )
        answer = client.cancel(slow["id"])
        assert answer["state"] == "running" and answer["cancel_requested"]
        cancelled = client.wait(slow["id"], timeout=60)
    assert cancelled["state"] == "cancelled"
    assert cancelled["progress"]["media_state"] == "stopped" and cancelled["progress"]["media_seconds"] < 25
    assert any(f["evidence"]["payload"] == "https://u.wechat.com/EXAMPLEslow" for f in cancelled["findings"])
    assert Report.model_validate(client.report(slow["id"])).media.state == "stopped"
    done = client.wait(upload["id"], timeout=60)
    assert done["state"] == "succeeded" and done["source"] == "upload:qr.mp4"
    assert {f["evidence"]["payload"] for f in done["findings"] if f["evidence"]["payload"]} == {
        p for _, _, p in QR_SHOWS
    }
    assert not (server.data / "uploads" / upload["id"]).exists()  # the recording is not kept after the job
    with pytest.raises(ServiceError) as missing:
        client.job("job_" + "f" * 32)
    assert missing.value.status == 404


def test_full_queue_answers_429_and_the_server_stays_up(server, tmp_path):
    from PIL import Image

    Image.fromarray(qr_picture("https://u.wechat.com/EXAMPLEflood", 200)).save(tmp_path / "flood.png")
    content = (tmp_path / "flood.png").read_bytes()
    headers = {"Authorization": f"Bearer {server.key.key}"}

    def one(_):
        response = httpx.post(
            server.url + "/v1/image",
            headers=headers,
            timeout=120,
            files={"file": ("flood.png", content, "image/png")},
        )
        return response.status_code, response.headers.get("retry-after"), response.json()

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(one, range(48)))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) >= 8 and statuses.count(429) >= 1, statuses
    assert set(statuses) <= {200, 429}
    refused = next(a for a in answers if a[0] == 429)
    assert refused[1] and int(refused[1]) >= 1 and refused[2]["error"] == "overloaded"
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert 'liveinspect_rejected_total{reason="queue_full"}' in httpx.get(server.url + "/metrics").text


def test_concurrent_images_share_batches(server, tmp_path):
    """Images sent at once ride in the same model batch (the batch-size histogram moves above 1)."""
    from PIL import Image

    Image.fromarray(qr_picture("https://u.wechat.com/EXAMPLEbatch", 200)).save(tmp_path / "b.png")
    content = (tmp_path / "b.png").read_bytes()

    def histogram() -> dict[str, float]:
        lines = httpx.get(server.url + "/metrics").text.splitlines()
        return {
            line.split("le=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in lines
            if line.startswith("liveinspect_batch_size_bucket") and 'model="frames"' in line
        }

    before = histogram()
    barrier = threading.Barrier(6)

    def one(_):
        barrier.wait(timeout=30)
        return httpx.post(
            server.url + "/v1/image",
            headers={"Authorization": f"Bearer {server.key.key}"},
            files={"file": ("b.png", content, "image/png")},
            timeout=120,
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(one, range(6))) == [200] * 6
    after = histogram()
    batches = after["+Inf"] - before["+Inf"]
    singles = after["1.0"] - before["1.0"]
    assert batches < 6 and singles < batches, (before, after)
