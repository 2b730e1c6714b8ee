"""liveinspect.serving: the HTTP inspection service, its Python client and the callback verifier.

    from liveinspect.serving import Client, verify_signature

`verify_signature` and `Client` need only the standard library and httpx;
the server side (`create_app`, `Service`, `ServiceConfig`) needs the `serve`
extra (fastapi, uvicorn, ...). Names are imported on first use so that a
receiver importing `verify_signature` does not load the server.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "verify_signature": "liveinspect.serving.signing",
    "SignatureError": "liveinspect.serving.signing",
    "compute_signature": "liveinspect.serving.signing",
    "Client": "liveinspect.serving.client",
    "ServiceError": "liveinspect.serving.client",
    "ServiceConfig": "liveinspect.serving.config",
    "Service": "liveinspect.serving.service",
    "create_app": "liveinspect.serving.app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'liveinspect.serving' has no attribute {name!r}")
