"""Asynchronous jobs: submit, read, stream events, cancel, fetch reports."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from liveinspect.errors import MediaError
from liveinspect.serving import payloads
from liveinspect.serving.api_models import JobRequest
from liveinspect.serving.app import ApiError, media_error, require_key
from liveinspect.serving.service import Service
from liveinspect.serving.store import FINISHED_STATES, JOB_STATES, ApiKey, delivery_id, new_job_id, upload_dir

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong API key"},
    404: {"description": "no such job for this key"},
}
_JOB_ID = re.compile(r"^job_[0-9a-f]{32}$")
EVENT_POLL_S = 0.2
EVENT_DB_READ_S = 1.0
EVENT_KEEPALIVE_S = 15.0


def _service(request: Request) -> Service:
    return request.app.state.service


def _own_job(service: Service, job_id: str, key: ApiKey) -> dict[str, Any]:
    job = service.store.job(job_id, key.id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} for this API key")
    return job


# -- submitting ----------------------------------------------------------------------------


@router.post(
    "",
    status_code=202,
    summary="submit a stream URL or an uploaded recording",
    responses={
        **_ERRORS,
        413: {"description": "upload too large"},
        422: {"description": "invalid request, unsafe URL or unreadable media"},
        429: {"description": "too many queued jobs or requests; see Retry-After"},
    },
)
async def submit_job(request: Request, key: ApiKey = Depends(require_key)) -> JSONResponse:
    service = _service(request)
    if await run_in_threadpool(service.store.count_jobs, "queued") >= service.config.max_queued_jobs:
        service.metrics.rejected.labels("jobs_full").inc()
        raise ApiError(
            429,
            "queue_full",
            f"{service.config.max_queued_jobs} jobs are already queued; retry later",
            {"Retry-After": "30"},
        )
    content_type = request.headers.get("content-type", "")
    job_id = new_job_id()
    if content_type.startswith("multipart/form-data"):
        request_data, upload = await _multipart_job(request, service, job_id)
    elif content_type.startswith("application/json") or not content_type:
        request_data, upload = await _json_job(request, service), None
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send application/json or multipart/form-data, not {content_type.split(';')[0]!r}",
        )
    try:
        await run_in_threadpool(service.store.create_job, key.id, request_data, upload, job_id)
    except BaseException:
        if upload:
            shutil.rmtree(Path(upload).parent, ignore_errors=True)
        raise
    service.runner.wake()
    return JSONResponse(
        {"id": job_id, "state": "queued", "url": f"/v1/jobs/{job_id}"},
        status_code=202,
        headers={"Location": f"/v1/jobs/{job_id}"},
    )


def _validated(data: Any) -> JobRequest:
    try:
        return JobRequest.model_validate(data)
    except ValidationError as error:
        from fastapi.exceptions import RequestValidationError

        raise RequestValidationError(error.errors(include_url=False, include_context=False)) from error


async def _json_job(request: Request, service: Service) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from error
    job = _validated(data)
    await run_in_threadpool(_check_urls, service, job, True)
    return job.model_dump(mode="json")


def _check_urls(service: Service, job: JobRequest, with_source: bool) -> None:
    """Refuse sources and callbacks that point at this machine, its network, or any scheme but ours."""
    from liveinspect.media.netguard import check_source_url

    allow = service.config.allow_private_urls
    checks = [
        ("callback_url", job.callback_url, ("http", "https")),
        ("broadcast.cover_url", job.broadcast.cover_url, ("http", "https")),
    ]
    if with_source:
        checks.insert(0, ("source", job.source, ("http", "https", "rtmp", "rtmps")))
    for field, url, schemes in checks:
        if url is None:
            continue
        try:
            check_source_url(url, allow_private=allow, schemes=schemes)
        except MediaError as error:
            raise ApiError(
                422,
                "unsafe_url" if "refus" in str(error) or "not allowed" in str(error) else "invalid_url",
                f"{field}: {error}",
            ) from error
    if job.max_duration is not None and job.max_duration > service.config.max_job_duration_s:
        raise ApiError(
            422, "invalid_request", f"max_duration: at most {service.config.max_job_duration_s:.0f} s"
        )


async def _multipart_job(request: Request, service: Service, job_id: str) -> tuple[dict[str, Any], str]:
    from starlette.datastructures import UploadFile

    form = await request.form(max_files=2, max_fields=20)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(
                422, "invalid_request", "file: a multipart job needs the recording in the 'file' field"
            )
        fields: dict[str, Any] = {"source": "upload"}
        broadcast = form.get("broadcast")
        if isinstance(broadcast, str) and broadcast.strip():
            try:
                fields["broadcast"] = json.loads(broadcast)
            except json.JSONDecodeError as error:
                raise ApiError(400, "invalid_json", f"broadcast: not valid JSON: {error}") from error
        for name in ("callback_url", "callback_min_severity", "max_duration", "key_broadcast"):
            value = form.get(name)
            if isinstance(value, str) and value != "":
                fields[name] = value
        job = _validated(fields)
        folder = upload_dir(service.config.data_dir, job_id)
        suffix = _safe_suffix(upload.filename)
        path = folder / f"source{suffix}"
        cover = form.get("cover")

        def store_files() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            _copy(upload.file, path, service.config.max_upload_bytes)
            if isinstance(cover, UploadFile):
                _copy(cover.file, folder / "cover", service.config.max_image_bytes)
                from liveinspect.media import load_image

                load_image(folder / "cover", max_pixels=service.config.max_image_pixels)
            _check_urls(service, job, with_source=False)
            from liveinspect.media import probe

            probe(path)  # a file that is not media is refused now, not after it was queued

        try:
            await run_in_threadpool(store_files)
        except MediaError as error:
            shutil.rmtree(folder, ignore_errors=True)
            api = media_error(error)
            raise ApiError(
                api.status, api.code, api.message.replace(str(path), upload.filename or "file")
            ) from error
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        data = job.model_dump(mode="json")
        data["source"] = f"upload:{upload.filename or 'file'}"
        return data, str(path)
    finally:
        await form.close()


def _safe_suffix(filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def _copy(source, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413, "payload_too_large", f"{target.stem}: larger than the {limit:,} byte limit"
                )
            out.write(chunk)
    if size == 0:
        raise ApiError(422, "empty_file", f"{target.stem}: the uploaded file is empty")


# -- reading -----------------------------------------------------------------------------------


def _view(service: Service, job: dict[str, Any]) -> dict[str, Any]:
    findings = [body for _, body in service.store.findings(job["id"])]
    return payloads.job_view(job, findings, service.store.deliveries(job["id"]))


@router.get("", summary="this key's jobs, newest first", responses=_ERRORS)
def list_jobs(
    request: Request,
    state: str | None = Query(None, max_length=20),
    limit: int = Query(50, ge=1, le=500),
    key: ApiKey = Depends(require_key),
) -> dict:
    service = _service(request)
    if state is not None and state not in JOB_STATES:
        raise ApiError(422, "invalid_request", f"state: one of {', '.join(JOB_STATES)}")
    sql = "SELECT id, state, created_at, finished_at, action, severity FROM jobs WHERE key_id = ?"
    params: list[Any] = [key.id]
    if state:
        sql += " AND state = ?"
        params.append(state)
    with service.store.db.connection() as conn:
        rows = conn.all(sql + f" ORDER BY created_at DESC LIMIT {int(limit)}", params)
    return {"jobs": rows}


@router.get(
    "/{job_id}", summary="a job: state, progress, findings so far, action, deliveries", responses=_ERRORS
)
def get_job(job_id: str, request: Request, key: ApiKey = Depends(require_key)) -> dict:
    service = _service(request)
    return _view(service, _own_job(service, job_id, key))


@router.delete("/{job_id}", summary="stop a job; what it found is kept", responses=_ERRORS)
def cancel_job(job_id: str, request: Request, key: ApiKey = Depends(require_key)) -> dict:
    service = _service(request)
    job = _own_job(service, job_id, key)
    url = job["request"].get("callback_url")

    def state_delivery(conn) -> None:
        if url:
            did = delivery_id(job_id, "state:cancelled")
            service.store.add_delivery(
                conn, did, job_id, "job.state", url, payloads.state_event(did, job, "cancelled")
            )

    state = service.store.request_cancel(
        job_id, key.id, time.time() + service.config.retention_for(None), state_delivery=state_delivery
    )
    service.changes.touch(job_id)
    service.deliveries.wake()
    return {"id": job_id, "state": state, "cancel_requested": state not in ("succeeded", "failed")}


def _artifact(service: Service, job: dict[str, Any], name: str) -> Response:
    found = service.store.artifact(job["id"], name)
    if found is None:
        if job["state"] not in FINISHED_STATES:
            raise ApiError(
                409, "not_ready", f"job {job['id']} is {job['state']}; the report is written when it ends"
            )
        raise ApiError(404, "not_found", f"job {job['id']} has no {name}")
    media_type, data = found
    return Response(data, media_type=media_type)


@router.get("/{job_id}/report", summary="report.json (the toolkit's report schema)", responses=_ERRORS)
def get_report(job_id: str, request: Request, key: ApiKey = Depends(require_key)) -> Response:
    service = _service(request)
    return _artifact(service, _own_job(service, job_id, key), "report.json")


@router.get("/{job_id}/report.html", summary="the HTML report", responses=_ERRORS)
def get_report_html(job_id: str, request: Request, key: ApiKey = Depends(require_key)) -> Response:
    service = _service(request)
    return _artifact(service, _own_job(service, job_id, key), "report.html")


@router.get("/{job_id}/frames/{name}", summary="a thumbnail the report refers to", responses=_ERRORS)
def get_frame(job_id: str, name: str, request: Request, key: ApiKey = Depends(require_key)) -> Response:
    service = _service(request)
    return _artifact(service, _own_job(service, job_id, key), f"frames/{name}")


@router.get("/{job_id}/audio/{name}", summary="a spoken finding's audio clip (WAV)", responses=_ERRORS)
def get_audio(job_id: str, name: str, request: Request, key: ApiKey = Depends(require_key)) -> Response:
    service = _service(request)
    return _artifact(service, _own_job(service, job_id, key), f"audio/{name}")


# -- the event stream ------------------------------------------------------------------------


@router.get(
    "/{job_id}/events",
    summary="server-sent events: findings as they are found, state changes",
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
)
async def job_events(job_id: str, request: Request, key: ApiKey = Depends(require_key)) -> StreamingResponse:
    service = _service(request)
    job = await run_in_threadpool(_own_job, service, job_id, key)
    last_event = request.headers.get("last-event-id", "")
    after = int(last_event) if last_event.isdigit() else 0

    async def stream():
        nonlocal after
        state, progress = None, None
        seen_version, last_read, last_sent = -1, 0.0, time.monotonic()
        yield "retry: 2000\n\n"
        while True:
            now = time.monotonic()
            version = service.changes.version(job_id)
            if version != seen_version or now - last_read >= EVENT_DB_READ_S:
                seen_version, last_read = version, now
                current = await run_in_threadpool(service.store.job, job_id)
                if current is None:
                    yield payloads.sse("end", {"id": job_id, "state": "deleted"})
                    return
                for seq, body in await run_in_threadpool(service.store.findings, job_id, after):
                    after = seq
                    last_sent = now
                    yield payloads.sse("finding", body, seq)
                if current["progress"] != progress:
                    progress = current["progress"]
                    yield payloads.sse("progress", {"id": job_id, **progress})
                if current["state"] != state:
                    state = current["state"]
                    last_sent = now
                    yield payloads.sse(
                        "state",
                        {
                            "id": job_id,
                            "state": state,
                            "action": current["action"],
                            "severity": current["severity"],
                            "error": current["error"],
                        },
                    )
                if state in FINISHED_STATES:
                    yield payloads.sse("end", {"id": job_id, "state": state})
                    return
            if now - last_sent >= EVENT_KEEPALIVE_S:
                last_sent = now
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)

    del job
    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
