"""Options of analyzers, frame stages and shared products: frozen dataclasses that describe themselves.

Every field is made with `option(...)`, which records its help text, the
command-line flag that sets it (default `--<component>-<field>`) and whether
it names weights. The CLI builds its flags from these declarations, and a
scan refuses to start when weights the user named did not load: a typo in
`--whisper` is an error, not a quiet "skipped".

    @dataclass(frozen=True)
    class SpeechOptions:
        weights: str | None = option(None, flag="--whisper", weights=True,
                                     help="Whisper .pt checkpoint or CTranslate2 folder")
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any


def option(default: Any = None, *, help: str, flag: str | None = None, weights: bool = False,
           metavar: str | None = None) -> Any:
    """A dataclass field with the metadata the CLI needs (see the module docstring)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag, "weights": weights,
                                                        "metavar": metavar})


@dataclass(frozen=True)
class OptionField:
    """One option as the CLI sees it."""

    component: str  # qualified component name: "speech", "frames.clip"
    name: str  # the dataclass field
    flag: str
    help: str
    type: Any  # resolved annotation
    default: Any
    weights: bool
    metavar: str | None

    @property
    def dest(self) -> str:
        return f"option:{self.component}:{self.name}"


def option_fields(component: str, options_cls: type) -> list[OptionField]:
    """The fields of `options_cls` made with `option()`; other fields (nested option objects,
    callables) are for library users and get no flag."""
    hints = typing.get_type_hints(options_cls)
    prefix = "--" + component.replace(".", "-").replace("_", "-")
    fields = []
    for field in dataclasses.fields(options_cls):
        if "help" not in field.metadata:
            continue
        flag = field.metadata["flag"] or f"{prefix}-{field.name.replace('_', '-')}"
        fields.append(OptionField(component, field.name, flag, field.metadata["help"], hints[field.name],
                                  field.default, field.metadata["weights"], field.metadata["metavar"]))
    return fields


@dataclass(frozen=True)
class NoOptions:
    """For components without options."""
