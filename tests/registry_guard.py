"""Import the voice/avatar analyzer modules for a test without leaving them registered for later tests.

Importing a module that carries `@register_analyzer` registers it for the whole
process, which would change what `build_inspector()` builds in tests that run
afterwards (the CLI demo test). Until the registry imports these modules
itself (`BUILTIN_MODULES`), a test that imports them puts the registry back.
"""

from __future__ import annotations

import contextlib
import importlib

from liveinspect.pipelines import registry


@contextlib.contextmanager
def analyzer_modules(*names: str):
    """Import liveinspect.pipelines.<name> for each name; afterwards unregister those the registry
    does not load itself, and restore their 'not yet shipped' entries."""
    saved = dict(registry.NOT_YET_SHIPPED)
    transient = [n for n in names if f"liveinspect.pipelines.{n}" not in registry.BUILTIN_MODULES]
    before = {n: n in registry._analyzers for n in transient}
    modules = [importlib.import_module(f"liveinspect.pipelines.{name}") for name in names]
    try:
        yield modules
    finally:
        for name in transient:
            if not before[name]:
                registry._analyzers.pop(name, None)
            if name in saved:
                registry.NOT_YET_SHIPPED[name] = saved[name]
