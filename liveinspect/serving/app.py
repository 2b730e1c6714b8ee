"""The HTTP app: `create_app(config)` returns a FastAPI application serving the API.

Every error is JSON: `{"error": <code>, "message": <what is wrong and how to
fix it>, "request_id": ...}`. Middleware (pure ASGI, so the event stream is
never buffered) gives every request an id, logs one JSON line per request,
counts requests by status, and limits body sizes per endpoint.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from liveinspect import __version__
from liveinspect.errors import LiveInspectError, MediaError, UnsafeSourceError
from liveinspect.serving import logs
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.inference import InspectionFailed, ModelTimeout, NotServed, Overloaded
from liveinspect.serving.limits import BodyLimitMiddleware
from liveinspect.serving.service import Service
from liveinspect.serving.store import ApiKey

log = logging.getLogger("liveinspect.serving.access")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": code, "message": message, "request_id": logs.request_id.get(), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def media_error(error: MediaError) -> ApiError:
    """A media problem in a request: unsafe URL 422, too large 413, anything else 422."""
    text = str(error)
    if isinstance(error, UnsafeSourceError):
        return ApiError(422, "unsafe_url", text)
    if "too large" in text or "longer than" in text or "at most" in text:
        return ApiError(413, "media_too_large", text)
    return ApiError(422, "unreadable_media", text)


def create_app(config: ServiceConfig | None = None, *, service: Service | None = None) -> FastAPI:
    """The API over `service` (or a new Service for `config`), started and stopped with the app."""
    if service is None:
        if config is None:
            raise LiveInspectError("create_app needs a ServiceConfig or a Service")
        service = Service(config)
    config = service.config

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(service.start)
        except LiveInspectError as error:
            # Kept for `liveinspect serve`, which reports it as a usage error (exit 2), not a crash.
            app.state.startup_error = error
            raise
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(
        title="liveinspect",
        version=__version__,
        lifespan=lifespan,
        description="Inspection of live-stream marketing against the Online Live Marketing "
        "Management Measures (2021): synchronous checks of texts, images and short "
        "audio; durable jobs over recordings and live streams with signed callbacks.",
    )
    app.state.service = service

    from liveinspect.serving.routes_jobs import router as jobs_router
    from liveinspect.serving.routes_sync import router as sync_router

    app.include_router(sync_router)
    app.include_router(jobs_router)
    _add_health_routes(app, service)
    _add_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, limit_for=lambda method, path, ctype: _body_limit(config, path, ctype)
    )
    app.add_middleware(RequestContextMiddleware, service=service)
    _document_job_bodies(app)
    return app


def _body_limit(config: ServiceConfig, path: str, content_type: str) -> int:
    if not content_type.startswith("multipart/"):
        return config.max_json_bytes
    slack = 64 * 1024  # the multipart envelope and form fields around the file
    if path.startswith("/v1/image"):
        return config.max_image_bytes + slack
    if path.startswith("/v1/audio"):
        return config.max_audio_bytes + slack
    return config.max_upload_bytes + config.max_image_bytes + slack


def _add_health_routes(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", tags=["operations"], summary="the process is up")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="models are loaded and the database answers",
        responses={503: {"description": "not ready yet"}},
    )
    def readyz() -> Response:
        if not service.ready:
            return error_response(503, "not_ready", "models are still loading")
        try:
            service.store.count_jobs("queued")
        except Exception as error:  # noqa: BLE001
            return error_response(503, "database_unavailable", f"the database does not answer: {error}")
        statuses = [
            s.model_dump(include={"name", "state", "reason"}) for s in service.inspector.model_statuses()
        ]
        return JSONResponse({"status": "ready", "analyzers": statuses, "worker": service.runner.owner})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, error: Overloaded):
        return error_response(
            429, "overloaded", str(error), {"Retry-After": str(max(1, round(error.retry_after)))}
        )

    @app.exception_handler(ModelTimeout)
    async def model_timeout(request: Request, error: ModelTimeout):
        return error_response(503, "model_timeout", str(error), {"Retry-After": "5"})

    @app.exception_handler(NotServed)
    async def not_served(request: Request, error: NotServed):
        return error_response(501, "not_served", str(error))

    @app.exception_handler(InspectionFailed)
    async def inspection_failed(request: Request, error: InspectionFailed):
        return error_response(500, "inspection_failed", str(error))

    @app.exception_handler(MediaError)
    async def media(request: Request, error: MediaError):
        api = media_error(error)
        return error_response(api.status, api.code, api.message)

    @app.exception_handler(LiveInspectError)
    async def toolkit(request: Request, error: LiveInspectError):
        return error_response(422, "invalid_request", str(error))

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, error: RequestValidationError):
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(
                400, "invalid_json", "the body is not valid JSON: " + _describe(problems[:1])
            )
        return error_response(
            422,
            "invalid_request",
            _describe(problems),
            details=[{"loc": list(p.get("loc", ())), "message": p.get("msg", "")} for p in problems[:20]],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = _STATUS_CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        log.exception("unhandled error")
        return error_response(
            500,
            "internal_error",
            f"unexpected {type(error).__name__}; the request id finds it in the server log",
        )


def _describe(problems: list[dict]) -> str:
    parts = []
    for problem in problems[:5]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return "; ".join(parts) + more


class RequestContextMiddleware:
    """Request id, one JSON access-log line, and request counts/latency by route and status."""

    def __init__(self, app, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = logs.new_request_id(headers.get("x-request-id"))
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = [500]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics = self.service.metrics
            metrics.http_requests.labels(scope["method"], template, str(status[0])).inc()
            metrics.http_seconds.labels(template).observe(seconds)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status[0],
                    "seconds": round(seconds, 4),
                    "key": scope.get("state", {}).get("key_name"),
                },
            )
            logs.request_id.reset(token)


def _document_job_bodies(app: FastAPI) -> None:
    """POST /v1/jobs reads JSON or multipart itself; put both bodies (and their models) in the schema."""
    from fastapi.openapi.utils import get_openapi

    from liveinspect.serving.api_models import MULTIPART_JOB_SCHEMA, JobRequest

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        model = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model.pop("$defs", {}))
        components["JobRequest"] = model
        operation = schema["paths"]["/v1/jobs"]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
                "multipart/form-data": {"schema": MULTIPART_JOB_SCHEMA},
            },
        }
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an API key from `liveinspect keys add`",
            }
        }
        for path, operations in schema["paths"].items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- authentication, shared by the routers ---------------------------------------------------


def require_key(request: Request) -> ApiKey:
    """The API key of a /v1 request (401 without a valid one), charged to its rate limit (429)."""
    service: Service = request.app.state.service
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send the API key as 'Authorization: Bearer KEY' (make one with `liveinspect keys add NAME`)",
            {"WWW-Authenticate": "Bearer"},
        )
    key = _cached_key(service, token.strip())
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid (revoked or mistyped)",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.scope.setdefault("state", {})["key_name"] = key.name
    wait = service.rate.take(key.id)
    if wait > 0:
        service.metrics.rejected.labels("rate_limit").inc()
        raise ApiError(
            429,
            "rate_limited",
            f"more than {service.config.rate_limit_per_s:g} requests per second for this key; slow down",
            {"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return key


_KEY_CACHE_S = 10.0


def _cached_key(service: Service, token: str) -> ApiKey | None:
    cache = service.__dict__.setdefault("_key_cache", {})
    hit = cache.get(token)
    now = time.monotonic()
    if hit and now - hit[1] < _KEY_CACHE_S:
        return hit[0]
    key = service.store.find_key(token)
    if key is not None:
        if len(cache) > 10_000:
            cache.clear()
        cache[token] = (key, now)
    return key
