"""Per-key rate limits and request body limits.

Bodies are limited twice: a declared Content-Length over the limit is
refused before anything is read, and a body without one (chunked) is
counted as it arrives and refused the moment it passes the limit, so no
request can make the server hold more than its limit in memory or on disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import HTTPException


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it through instead of calling it a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413, detail=f"request body is larger than the {limit:,} byte limit for this endpoint"
        )
        self.limit = limit


class TokenBucket:
    """`rate` requests per second on average, `burst` at once; one bucket per API key."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class BodyLimitMiddleware:
    """Pure ASGI (it must not buffer streaming responses such as the event stream)."""

    def __init__(self, app, limit_for: Callable[[str, str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for  # (method, path, content type) -> bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.limit_for(scope["method"], scope["path"], headers.get("content-type", ""))
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


async def _send_413(send, limit: int) -> None:
    import json

    from liveinspect.serving.logs import request_id

    body = json.dumps(
        {
            "error": "payload_too_large",
            "message": f"request body is larger than the {limit:,} byte limit for this endpoint",
            "request_id": request_id.get(),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
