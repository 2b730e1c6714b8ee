"""A synchronous Python client for the service (httpx).

    client = Client("http://127.0.0.1:8080", api_key)
    job = client.submit_job(source="https://.../live.m3u8", broadcast={"title": "..."})
    for event in client.events(job["id"]):
        print(event.event, event.data)
    client.wait(job["id"])

Errors come back as `ServiceError` with the status code and the service's
JSON error (`error` code, `message`); 429s and 503s carry `retry_after`.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from liveinspect.errors import LiveInspectError

FINISHED = ("succeeded", "failed", "cancelled")


class ServiceError(LiveInspectError):
    def __init__(self, status: int, body: Any, retry_after: float | None = None) -> None:
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.code = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"HTTP {status} {self.code or ''}: {message}".replace("  ", " "))


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any]
    id: str | None = None


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}"},
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            retry = response.headers.get("retry-after")
            raise ServiceError(
                response.status_code, body, float(retry) if retry and retry.isdigit() else None
            )
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- operations ------------------------------------------------------------------------

    def healthz(self) -> dict:
        return self._json("GET", "/healthz")

    def readyz(self) -> dict:
        return self._json("GET", "/readyz")

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.readyz()
            except (ServiceError, httpx.TransportError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def metrics(self) -> str:
        return self._request("GET", "/metrics").text

    def check_text(self, items: Sequence[dict[str, Any] | str]) -> list[dict]:
        """`items`: texts (checked as titles) or {"text": ..., "source": "comment"} objects."""
        body = [{"text": item} if isinstance(item, str) else dict(item) for item in items]
        return self._json("POST", "/v1/text", json={"items": body})["results"]

    def check_image(self, image: str | Path | bytes, modality: str = "frame") -> dict:
        content, name = _content(image, "image")
        return self._json(
            "POST", "/v1/image", data={"modality": modality}, files={"file": (name, content, _type(name))}
        )

    def check_audio(self, audio: str | Path | bytes, filename: str = "audio.wav") -> dict:
        content, name = _content(audio, filename)
        return self._json("POST", "/v1/audio", files={"file": (name, content, _type(name))})

    def submit_job(
        self,
        source: str | None = None,
        *,
        file: str | Path | None = None,
        broadcast: dict[str, Any] | None = None,
        callback_url: str | None = None,
        max_duration: float | None = None,
        callback_min_severity: str | None = None,
        key_broadcast: bool = False,
        cover: str | Path | None = None,
    ) -> dict:
        """A job over a URL (`source`) or an uploaded recording (`file`); returns {"id", "state"}."""
        if (source is None) == (file is None):
            raise LiveInspectError("give either source (a URL) or file (a recording to upload)")
        options = {
            k: v
            for k, v in (
                ("callback_url", callback_url),
                ("max_duration", max_duration),
                ("callback_min_severity", callback_min_severity),
            )
            if v is not None
        }
        if key_broadcast:
            options["key_broadcast"] = True
        if source is not None:
            return self._json(
                "POST", "/v1/jobs", json={"source": source, "broadcast": broadcast or {}, **options}
            )
        path = Path(file)
        files = {"file": (path.name, path.read_bytes(), _type(path.name))}
        if cover is not None:
            files["cover"] = (Path(cover).name, Path(cover).read_bytes(), _type(str(cover)))
        data = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in options.items()
        }
        data["broadcast"] = json.dumps(broadcast or {}, ensure_ascii=False)
        return self._json("POST", "/v1/jobs", data=data, files=files)

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def jobs(self, state: str | None = None) -> list[dict]:
        return self._json("GET", "/v1/jobs", params={"state": state} if state else None)["jobs"]

    def cancel(self, job_id: str) -> dict:
        return self._json("DELETE", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, timeout: float = 600.0, poll_s: float = 0.5) -> dict:
        """Poll until the job has finished; returns its final view."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout:.0f} s")
            time.sleep(poll_s)

    def report(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}/report")

    def report_html(self, job_id: str) -> str:
        return self._request("GET", f"/v1/jobs/{job_id}/report.html").text

    def events(self, job_id: str, *, timeout: float | None = None) -> Iterator[Event]:
        """Server-sent events of a job until it ends: finding, progress, state, end."""
        with self._http.stream(
            "GET", f"/v1/jobs/{job_id}/events", timeout=httpx.Timeout(timeout, connect=10.0)
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ServiceError(response.status_code, response.json())
            event, data, event_id = "message", [], None
            for line in response.iter_lines():
                if not line:
                    if data:
                        parsed = Event(event, json.loads("\n".join(data)), event_id)
                        yield parsed
                        if parsed.event == "end":
                            return
                    event, data, event_id = "message", [], None
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    elif name == "id":
                        event_id = value


def _content(value: str | Path | bytes, default_name: str) -> tuple[bytes, str]:
    if isinstance(value, bytes):
        return value, default_name
    path = Path(value)
    return path.read_bytes(), path.name


def _type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
