"""The service under load on loopback: dynamic batching vs batch size 1, text throughput, live latency.

    python bench/serve.py [--clients 8] [--seconds 15] [--live-seconds 30] [--json]

Starts `liveinspect serve` (frame analyzer: OCR + QR codes; the shipped text
models) twice on 127.0.0.1, one after the other: once with dynamic batching
(the analyzers' batch sizes, 20 ms queue delay) and once with --max-batch 1.
Against each, N concurrent clients post images for a bounded time; against
the batched one, they also post texts. Then a live HLS stream is served on
loopback (segments appear in wall-clock time) with QR-code violations at
known times, a job is submitted with a callback, and the time from each
violation's appearance in the stream to its finding on /events and at the
callback receiver is measured. Everything runs on this machine, bounded in
client count, request count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving_support import (  # noqa: E402
    CallbackReceiver,
    LiveHlsServer,
    ServerProcess,
    add_key,
    make_qr_video,
    qr_picture,
)

MAX_REQUESTS = 5000  # per phase, whatever --seconds says
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
BANNERS = [
    "全网最低价 今晚秒杀",
    "加V信 abc12345 私聊下单",
    "已售10万件 销量第一",
    "今天上新 欢迎光临",
    "三天见效 无效退款",
    "新品到店 限量供应",
]
TEXTS = [
    "全网第一的面霜，今天只要99元",
    "加微信 abc123 私聊有优惠",
    "这款面霜很温和，适合敏感肌",
    "已售十万件，销量第一",
    "三天治好皮肤病，无效退款",
    "欢迎来到直播间",
]


def images(folder: Path, count: int = 12) -> list[bytes]:
    """Frames with a Chinese banner (OCR reads it) and, every other one, a QR code."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(CJK_FONT), 28) if CJK_FONT.is_file() else ImageFont.load_default()
    out = []
    for n in range(count):
        picture = Image.new("RGB", (640, 360), (40 + 15 * n % 200, 90, 140))
        draw = ImageDraw.Draw(picture)
        draw.rectangle((20, 280, 620, 340), fill=(200, 20, 20))
        draw.text((40, 290), BANNERS[n % len(BANNERS)], font=font, fill=(255, 255, 255))
        if n % 2 == 0:
            picture.paste(Image.fromarray(qr_picture(f"https://u.wechat.com/EXAMPLE{n}", 200)), (400, 30))
        path = folder / f"frame{n}.png"
        picture.save(path)
        out.append(path.read_bytes())
    return out


def drive(url: str, key: str, clients: int, seconds: float, request) -> dict:
    """`clients` threads each calling `request(client, n)` until `seconds` pass; latencies and counts."""
    latencies: list[float] = []
    units = [0]
    errors: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    issued = [0]

    def worker(index: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            n = index
            while time.perf_counter() < deadline:
                with lock:
                    if issued[0] >= MAX_REQUESTS:
                        return
                    issued[0] += 1
                started = time.perf_counter()
                status, done = request(client, n)
                elapsed = time.perf_counter() - started
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                        units[0] += done
                    else:
                        errors[status] = errors.get(status, 0) + 1
                n += clients

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return {
        "requests": len(latencies),
        "units": units[0],
        "seconds": round(wall, 2),
        "per_s": round(units[0] / wall, 2),
        "p50_s": round(pct(0.5), 3),
        "p95_s": round(pct(0.95), 3),
        "errors": errors,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for process in [pid, *(int(c) for c in (children.read_text().split() if children.exists() else ()))]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def image_phase(server: ServerProcess, key: str, pictures: list[bytes], args) -> dict:
    def request(client, n):
        response = client.post(
            "/v1/image", files={"file": ("f.png", pictures[n % len(pictures)], "image/png")}
        )
        return response.status_code, 1

    drive(server.url, key, 2, 3.0, request)  # warm-up: models loaded, caches filled
    # How many cores the server keeps busy: batching can only fill hardware that is idle.
    cpu_before = cpu_seconds(server.process.pid)
    result = drive(server.url, key, args.clients, args.seconds, request)
    result["server_cores"] = round((cpu_seconds(server.process.pid) - cpu_before) / result["seconds"], 2)
    return result


def batch_sizes(server: ServerProcess) -> float:
    total = count = 0.0
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith('liveinspect_batch_size_sum{model="frames"}'):
            total = float(line.rsplit(" ", 1)[1])
        if line.startswith('liveinspect_batch_size_count{model="frames"}'):
            count = float(line.rsplit(" ", 1)[1])
    return round(total / count, 2) if count else 0.0


def text_phase(server: ServerProcess, key: str, args) -> dict:
    def request(client, n):
        items = [{"text": TEXTS[(n + k) % len(TEXTS)] + f" #{n}-{k}", "source": "comment"} for k in range(16)]
        response = client.post("/v1/text", json={"items": items})
        return response.status_code, len(items)

    return drive(server.url, key, args.clients, args.seconds, request)


def live_phase(server: ServerProcess, key, folder: Path, args) -> dict:
    """Violations (QR codes) at known times in a live HLS stream -> seconds until /events and the callback."""
    seconds = args.live_seconds
    violations = [
        (float(t), float(t) + 2.0, f"https://u.wechat.com/EXAMPLElive{int(t)}")
        for t in np.arange(3.0, seconds - 3, 5.0)
    ]
    live = folder / "live"
    live.mkdir()
    make_qr_video(live / "show.m3u8", seconds, violations, fps=6, size=(480, 270), hls_time=1.0)
    seen_events: dict[str, float] = {}
    seen_callbacks: dict[str, float] = {}
    with LiveHlsServer(live) as stream, CallbackReceiver() as receiver:
        from liveinspect.serving import Client

        client = Client(server.url, key.key)
        started = stream.start()
        time.sleep(stream.segments[0][1] + 0.2)  # the first segment is out: the stream is live
        job = client.submit_job(
            source=stream.url,
            callback_url=receiver.url,
            callback_min_severity="info",
            max_duration=seconds + 5,
        )
        for event in client.events(job["id"], timeout=seconds * 3 + 60):
            if event.event == "finding" and event.data["evidence"]["payload"]:
                seen_events.setdefault(event.data["evidence"]["payload"], time.time())
        deadline = time.time() + 30
        while time.time() < deadline and len(seen_callbacks) < len(seen_events):
            for request in receiver.accepted():
                body = json.loads(request["body"])
                if body["event"] == "job.finding" and body["finding"]["evidence"]["payload"]:
                    seen_callbacks.setdefault(body["finding"]["evidence"]["payload"], request["at"])
            time.sleep(0.2)
        state = client.job(job["id"])["state"]
    event_latency = [seen_events[p] - (started + t0) for t0, _, p in violations if p in seen_events]
    callback_latency = [seen_callbacks[p] - (started + t0) for t0, _, p in violations if p in seen_callbacks]

    def summary(values: list[float]) -> dict:
        if not values:
            return {"n": 0}
        ordered = sorted(values)
        return {
            "n": len(values),
            "p50_s": round(statistics.median(ordered), 2),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "max_s": round(ordered[-1], 2),
        }

    return {
        "violations": len(violations),
        "job_state": state,
        "to_events": summary(event_latency),
        "to_callback": summary(callback_latency),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (at most 64)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per load phase (at most 120)")
    parser.add_argument(
        "--live-seconds", type=float, default=30.0, help="length of the live stream (at most 120)"
    )
    parser.add_argument(
        "--window", type=float, default=2.0, help="the service's segment window for live sources"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.clients = max(1, min(args.clients, 64))
    args.seconds = max(1.0, min(args.seconds, 120.0))
    args.live_seconds = max(10.0, min(args.live_seconds, 120.0))
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    pictures = images(folder)
    common = [
        "--analyzers",
        "frames",
        "--settings",
        json.dumps({"frames.faces": {"enabled": False}}),
        "--rate-limit",
        "0",
        "--allow-private-urls",
        "--workers",
        "1",
        "--window",
        str(args.window),
        "--max-pending",
        "1024",
        "--fps",
        "2",
    ]
    results: dict = {"clients": args.clients, "seconds": args.seconds}
    for name, extra in (("batched", []), ("batch_size_1", ["--max-batch", "1"])):
        data = folder / name
        key = add_key(data)
        with ServerProcess(data, *common, *extra) as server:
            results[f"images_{name}"] = image_phase(server, key.key, pictures, args)
            results[f"images_{name}"]["mean_batch"] = batch_sizes(server)
            if name == "batched":
                results["text"] = text_phase(server, key.key, args)
                results["live"] = live_phase(server, key, folder, args)
    batched, single = results["images_batched"], results["images_batch_size_1"]
    results["image_throughput_ratio"] = (
        round(batched["per_s"] / single["per_s"], 2) if single["per_s"] else None
    )
    results["image_p95_ratio"] = round(batched["p95_s"] / single["p95_s"], 2) if single["p95_s"] else None
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.clients} clients, {args.seconds:.0f} s per phase, loopback")
    for name in ("batched", "batch_size_1"):
        r = results[f"images_{name}"]
        print(
            f"images {name:13s} {r['per_s']:7.2f} images/s  p50 {r['p50_s']:.3f} s  p95 {r['p95_s']:.3f} s  "
            f"mean batch {r['mean_batch']}  server cores {r['server_cores']} of {os.cpu_count()}  "
            f"errors {r['errors']}"
        )
    print(
        f"images: batched/unbatched throughput {results['image_throughput_ratio']}x, "
        f"p95 {results['image_p95_ratio']}x"
    )
    t = results["text"]
    print(
        f"text   {t['per_s']:8.1f} items/s  p50 {t['p50_s']:.3f} s  p95 {t['p95_s']:.3f} s "
        "per 16-item request"
    )
    live = results["live"]
    print(
        f"live HLS ({live['violations']} violations, window {args.window:g} s, job {live['job_state']}): "
        f"to /events {live['to_events']}, to callback {live['to_callback']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
