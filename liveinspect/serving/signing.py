"""Signed callbacks: how the service signs a delivery and how a receiver checks it.

    X-Liveinspect-Delivery:  stable id of the delivery (a retry keeps it; drop duplicates by it)
    X-Liveinspect-Timestamp: unix seconds when this attempt was sent
    X-Liveinspect-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw_body)>

The timestamp is inside the signed text, so a captured request cannot be
replayed later with a fresh timestamp; receivers refuse timestamps outside a
window (default 5 minutes). Keys of several versions may be listed,
comma-separated (`v1=...,v1=...`), so a secret can be rotated without a gap.
This module needs only the standard library (and liveinspect.errors), so a
receiver can import it without the service's dependencies.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from liveinspect.errors import LiveInspectError

DELIVERY_HEADER = "X-Liveinspect-Delivery"
TIMESTAMP_HEADER = "X-Liveinspect-Timestamp"
SIGNATURE_HEADER = "X-Liveinspect-Signature"
DEFAULT_TOLERANCE_S = 300.0


class SignatureError(LiveInspectError):
    """A callback's signature or timestamp does not check out; the message says which."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute_signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `timestamp + "." + body` under `secret`."""
    message = _as_bytes(str(timestamp)) + b"." + body
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_headers(
    secret: str | bytes, delivery_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers for one attempt of a delivery."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "v1=" + compute_signature(secret, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; frameworks hand them over in any case.
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise SignatureError(f"the {name} header is missing")


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """Check a received callback; return its delivery id, or raise SignatureError saying why.

    `body` must be the raw request body, byte for byte, as received (not
    re-serialised JSON). `headers` is any mapping of the request's headers.
    A timestamp further than `tolerance_s` from `now` (either way) is refused
    even when the signature is right: that is what stops replays.
    """
    delivery_id = _header(headers, DELIVERY_HEADER)
    raw_timestamp = _header(headers, TIMESTAMP_HEADER).strip()
    if not raw_timestamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {raw_timestamp[:40]!r}")
    timestamp = int(raw_timestamp)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(
            f"timestamp {timestamp} is {abs(now - timestamp):.0f} s from now, outside "
            f"the {tolerance_s:.0f} s replay window (check the receiver's clock)"
        )
    expected = compute_signature(secret, raw_timestamp, body)
    offered = [
        part.strip()[3:]
        for part in _header(headers, SIGNATURE_HEADER).split(",")
        if part.strip().startswith("v1=")
    ]
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} has no v1= signature")
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError(
            "signature does not match: wrong secret, or the body was changed "
            "(verify the raw bytes, before any JSON parsing)"
        )
    return delivery_id
