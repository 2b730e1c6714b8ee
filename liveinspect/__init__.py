"""liveinspect: compliance inspection of live-stream marketing.

    import liveinspect

    with liveinspect.build_inspector() as inspector:          # load models once
        result = inspector.scan(liveinspect.Broadcast(source="room.mp4", title="..."))
        print(result.report.verdict)
        liveinspect.write_report(result.report, result.evidence, "out/scan")

The names below are the public face; they import lazily, so `import liveinspect`
loads no model and no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "build_inspector": "liveinspect.pipelines.registry",
    "register_analyzer": "liveinspect.pipelines.registry",
    "register_stage": "liveinspect.pipelines.registry",
    "Inspector": "liveinspect.pipelines.orchestrator",
    "ScanOptions": "liveinspect.pipelines.orchestrator",
    "ScanResult": "liveinspect.pipelines.orchestrator",
    "Broadcast": "liveinspect.schema",
    "Product": "liveinspect.schema",
    "Report": "liveinspect.schema",
    "Finding": "liveinspect.schema",
    "TextItem": "liveinspect.schema",
    "load_policy": "liveinspect.policy",
    "load_policy_dir": "liveinspect.policy",
    "Policy": "liveinspect.policy",
    "write_report": "liveinspect.report.html",
    "LiveInspectError": "liveinspect.errors",
}

__all__ = [  # noqa: RUF022 - grouped as _PUBLIC is
    "__version__", "build_inspector", "register_analyzer", "register_stage", "Inspector", "ScanOptions",
    "ScanResult", "Broadcast", "Product", "Report", "Finding", "TextItem", "load_policy",
    "load_policy_dir", "Policy", "write_report", "LiveInspectError",
]

if TYPE_CHECKING:
    from liveinspect.errors import LiveInspectError
    from liveinspect.pipelines.orchestrator import Inspector, ScanOptions, ScanResult
    from liveinspect.pipelines.registry import build_inspector, register_analyzer, register_stage
    from liveinspect.policy import Policy, load_policy, load_policy_dir
    from liveinspect.report.html import write_report
    from liveinspect.schema import Broadcast, Finding, Product, Report, TextItem


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'liveinspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
