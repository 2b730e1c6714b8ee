"""Faults across processes: kill -9 mid-job and restart; two service processes on one PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest
from serving_support import (
    CallbackReceiver,
    FileServer,
    PostgresServer,
    ServerProcess,
    add_key,
    make_qr_video,
    wait_until,
)

from liveinspect.serving import Client, verify_signature
from liveinspect.serving.store import delivery_id

QR_ONLY = [
    "--analyzers",
    "frames",
    "--settings",
    json.dumps({"frames.ocr": {"enabled": False}, "frames.faces": {"enabled": False}}),
    "--lexicon-only",
    "--allow-private-urls",
    "--window",
    "2",
    "--fps",
    "2",
    "--callback-backoff",
    "0.2",
]
SHOWS = [
    (1.0, 2.0, "https://u.wechat.com/EXAMPLEa"),
    (5.0, 6.0, "https://u.wechat.com/EXAMPLEb"),
    (9.0, 10.0, "https://u.wechat.com/EXAMPLEc"),
    (13.0, 14.0, "https://u.wechat.com/EXAMPLEd"),
]


@pytest.mark.slow
def test_kill_9_mid_job_then_restart_completes_it_exactly_once(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    make_qr_video(media / "show.m3u8", 16.0, SHOWS, hls_time=1.0)
    data = tmp_path / "data"
    key = add_key(data)
    with FileServer(media, segment_delay_s=0.4) as files, CallbackReceiver(fail_first=1) as receiver:
        first = ServerProcess(data, *QR_ONLY, "--lease", "2").start()
        try:
            client = Client(first.url, key.key)
            job = client.submit_job(
                source=f"{files.url}/show.m3u8",
                callback_url=receiver.url,
                broadcast={"title": "全网第一 限时秒杀"},
            )
            wait_until(
                lambda: any(f["evidence"]["payload"] for f in client.job(job["id"])["findings"]),
                60,
                message="a finding from the stream",
            )
            before = client.job(job["id"])
            assert before["state"] == "running" and before["progress"]["media_seconds"] < 15
        finally:
            first.kill()  # SIGKILL: no shutdown code runs; the job is left 'running' with a lease
        with ServerProcess(data, *QR_ONLY, "--lease", "2") as second:
            client = Client(second.url, key.key)
            done = client.wait(job["id"], timeout=120)
            wait_until(
                lambda: all(d["state"] == "delivered" for d in client.job(job["id"])["deliveries"]),
                60,
                message="every callback delivered",
            )
            done = client.job(job["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    # Every finding exactly once, though the stream was inspected twice from the start.
    keys = Counter(
        (f["kind"], f["evidence"]["payload"], f["t_start"], f["modality"]) for f in done["findings"]
    )
    assert all(n == 1 for n in keys.values()), keys
    assert {f["evidence"]["payload"] for f in done["findings"] if f["evidence"]["payload"]} == {
        p for *_, p in SHOWS
    }
    assert sum(1 for f in done["findings"] if f["modality"] == "title") >= 1
    assert len({json.dumps(f, sort_keys=True) for f in done["findings"]}) == len(done["findings"])
    # Callbacks: one delivery per finding and state; each failed once and was retried with its id.
    ids = {d["id"] for d in done["deliveries"]}
    assert delivery_id(job["id"], "state:running") in ids and delivery_id(job["id"], "state:succeeded") in ids
    assert sum(1 for d in done["deliveries"] if d["event"] == "job.finding") == len(done["findings"])
    tries = Counter(r["delivery"] for r in receiver.received)
    assert set(tries) == ids and all(n >= 2 for n in tries.values())
    accepted = {verify_signature(r["body"], r["headers"], key.webhook_secret) for r in receiver.accepted()}
    assert accepted == ids


@pytest.mark.slow
def test_two_processes_on_one_postgresql_run_each_job_once(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    make_qr_video(media / "clip.m3u8", 4.0, [(1.0, 2.0, "https://u.wechat.com/EXAMPLEpg")], hls_time=1.0)
    with PostgresServer(tmp_path / "pg") as pg, FileServer(media, segment_delay_s=0.15) as files:
        key = add_key(tmp_path / "keys", database=pg.url)
        common = [*QR_ONLY, "--database", pg.url, "--workers", "2"]
        with ServerProcess(tmp_path / "a", *common) as a, ServerProcess(tmp_path / "b", *common) as b:
            jobs = []
            for n in range(10):
                server = (a, b)[n % 2]
                jobs.append(Client(server.url, key.key).submit_job(source=f"{files.url}/clip.m3u8")["id"])
            client_a, client_b = Client(a.url, key.key), Client(b.url, key.key)
            finished = [client_a.wait(job, timeout=120) for job in jobs]
            # Either process answers for any job: the state is in the shared database.
            assert client_b.job(jobs[0])["state"] == "succeeded"
            metrics = httpx.get(a.url + "/metrics").text
        import psycopg

        with psycopg.connect(pg.url) as conn:
            owners = conn.execute("SELECT owner, attempts FROM jobs").fetchall()
    assert [job["state"] for job in finished] == ["succeeded"] * 10
    assert all(attempts == 1 for _, attempts in owners)
    processes = {owner.split(":")[1] for owner, _ in owners}
    assert len(processes) == 2, owners  # both processes took jobs
    for job in finished:
        payloads = [f["evidence"]["payload"] for f in job["findings"]]
        assert set(payloads) == {"https://u.wechat.com/EXAMPLEpg"}
        assert len({(f["t_start"], f["kind"]) for f in job["findings"]}) == len(payloads)
    assert 'liveinspect_jobs{state="succeeded"} 10.0' in metrics
