"""Analyzer settings of a service: one options object per component, from Python or from JSON.

The toolkit keys analyzer options by component name — `"speech"`,
`"frames"`, a frame stage `"frames.ocr"`, a shared product
`"speech_regions"`, the text check `"text"` — each an instance of the class
`registry.component_options()` names for it. `liveinspect serve --settings`
and `ServiceConfig(settings=...)` also take plain JSON objects,
`{"frames.ocr": {"enabled": false}}`: a JSON object changes only the fields
it names, over the options the command-line flags gave (or the defaults),
and is type-checked strictly so `"enabled": "no"` is an error rather than a
truthy string.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from liveinspect.errors import LiveInspectError

EXAMPLE = '{"frames.ocr": {"enabled": false}, "speech": {"language": "zh"}}'


def resolve_settings(given: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Component name -> options object, `given` (objects or JSON field dicts) over `base` (objects)."""
    from liveinspect.pipelines.registry import component_options

    if not isinstance(given, Mapping):
        raise LiveInspectError(f"settings take an object of components, e.g. {EXAMPLE}")
    classes = component_options()
    settings = dict(base or {})
    for name, value in given.items():
        cls = classes.get(name)
        if cls is None:
            raise LiveInspectError(f"settings: unknown component {name!r}; known: {', '.join(classes)}")
        if isinstance(value, cls):
            settings[name] = value
        elif isinstance(value, Mapping):
            settings[name] = _apply(name, cls, settings.get(name) or cls(), value, classes)
        else:
            raise LiveInspectError(
                f"settings: {name!r} takes an object of its options ({_field_list(cls)}), "
                f"got {type(value).__name__}"
            )
    return settings


def _apply(name: str, cls: type, current: Any, fields: Mapping[str, Any], classes: Mapping[str, type]) -> Any:
    from pydantic import TypeAdapter, ValidationError

    known = {f.name for f in dataclasses.fields(cls)}
    for field in fields:
        if field not in known:
            hint = ""
            if f"{name}.{field}" in classes:  # {"frames": {"ocr": false}} from before stages had names
                hint = f' (it is a component of its own: {{"{name}.{field}": {{"enabled": false}}}})'
            raise LiveInspectError(
                f"settings: {name!r} has no option {field!r}{hint}; its options: {_field_list(cls)}"
            )
    try:
        checked = TypeAdapter(cls).validate_json(json.dumps(dict(fields)), strict=True)
    except TypeError as error:
        raise LiveInspectError(f"settings: the options of {name!r} must be JSON values: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in p['loc'])}: {p['msg']}" for p in error.errors()[:5]
        )
        raise LiveInspectError(f"settings: {name!r}: {problems}") from error
    return dataclasses.replace(current, **{field: getattr(checked, field) for field in fields})


def _field_list(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls)) or "none"


def parse_settings_json(text: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`--settings JSON` over the options from the command line's flags."""
    try:
        given = json.loads(text)
    except json.JSONDecodeError as error:
        raise LiveInspectError(f"--settings is not valid JSON: {error}; e.g. {EXAMPLE}") from error
    if not isinstance(given, dict):
        raise LiveInspectError(f"--settings takes a JSON object of components, e.g. {EXAMPLE}")
    return resolve_settings(given, base)
