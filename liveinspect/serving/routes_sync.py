"""Synchronous checks: POST /v1/text, /v1/image, /v1/audio."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from liveinspect.schema import Modality, TextItem
from liveinspect.serving.api_models import TEXT_SOURCES, ImageModality, TextRequest
from liveinspect.serving.app import ApiError, require_key
from liveinspect.serving.inference import SUGGESTION, Inspection
from liveinspect.serving.service import Service
from liveinspect.serving.store import ApiKey

router = APIRouter(prefix="/v1", tags=["synchronous"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong API key"},
    413: {"description": "body or media too large"},
    422: {"description": "invalid input; the message names the problem"},
    429: {"description": "rate limit or full queue; see Retry-After"},
}


def _service(request: Request) -> Service:
    return request.app.state.service


def _result(inspection: Inspection) -> dict[str, Any]:
    verdict = inspection.verdict
    return {
        "findings": [f.model_dump(mode="json") for f in inspection.findings],
        "action": inspection.action.value,
        "suggestion": SUGGESTION[inspection.action],
        "severity": verdict.severity.value if verdict and inspection.findings else None,
    }


@router.post(
    "/text", summary="check texts (titles, profiles, comments, captions, transcripts)", responses=_ERRORS
)
def check_text(body: TextRequest, request: Request, key: ApiKey = Depends(require_key)) -> dict:
    service = _service(request)
    items = []
    for number, item in enumerate(body.items):
        modality = TEXT_SOURCES.get(item.source) or _modality_value(item.source)
        if modality is None:
            raise ApiError(
                422,
                "invalid_request",
                f"items.{number}.source: unknown source {item.source!r}; "
                f"use one of {', '.join(TEXT_SOURCES)}",
            )
        items.append(
            TextItem(
                modality=modality, text=item.text, t_start=item.t_start, t_end=item.t_end, source=item.source
            )
        )
    return {"results": [_result(r) for r in service.inference.check_texts(items)]}


def _modality_value(value: str) -> Modality | None:
    try:
        return Modality(value)
    except ValueError:
        return None


async def _spool(upload: UploadFile, limit: int, suffix: str = "") -> Path:
    """Copy an upload to a temporary file, refusing it past `limit` bytes and when empty."""
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=suffix)  # noqa: SIM115 - closed below
    size = 0
    try:
        with handle:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        413, "payload_too_large", f"the file is larger than the {limit:,} byte limit"
                    )
                handle.write(chunk)
        if size == 0:
            raise ApiError(422, "empty_file", "the uploaded file is empty")
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name)


@router.post("/image", summary="inspect one image (a cover or a frame)", responses=_ERRORS)
async def check_image(
    request: Request,
    file: UploadFile = File(..., description="PNG, JPEG, WebP, ..."),
    modality: ImageModality = Form("frame"),
    key: ApiKey = Depends(require_key),
) -> dict:
    from starlette.concurrency import run_in_threadpool

    service = _service(request)
    path = await _spool(file, service.config.max_image_bytes)
    try:

        def work() -> dict:
            from liveinspect.media import load_image

            # The pixel limit is checked from the header before any pixel is decoded.
            image = load_image(path, max_pixels=service.config.max_image_pixels)
            inspection = service.inference.inspect_image(image, Modality(modality))
            result = _result(inspection)
            result["texts"] = [t.model_dump(mode="json", exclude_none=True) for t in inspection.texts]
            result["size"] = {"width": int(image.shape[1]), "height": int(image.shape[0])}
            return result

        return await run_in_threadpool(work)
    finally:
        path.unlink(missing_ok=True)


@router.post("/audio", summary="transcribe and check a short recording (at most 60 s)", responses=_ERRORS)
async def check_audio(
    request: Request,
    file: UploadFile = File(..., description="wav, mp3, flac, m4a, ogg, ..."),
    key: ApiKey = Depends(require_key),
) -> dict:
    from starlette.concurrency import run_in_threadpool

    service = _service(request)
    suffix = Path(file.filename or "").suffix.lower()
    suffix = suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ""
    path = await _spool(file, service.config.max_audio_bytes, suffix=suffix)
    try:

        def work() -> dict:
            from liveinspect.serving.audio import load_short_audio

            samples = load_short_audio(path, service.config.max_audio_seconds)
            inspection = service.inference.inspect_audio(samples)
            result = _result(inspection)
            result["duration_s"] = round(len(samples) / 16000, 3)
            result["transcript"] = " ".join(t.text.strip() for t in inspection.texts).strip()
            result["segments"] = [t.model_dump(mode="json", exclude_none=True) for t in inspection.texts]
            return result

        return await run_in_threadpool(work)
    finally:
        path.unlink(missing_ok=True)
