"""Named analyzers, frame stages and shared per-segment products, registered by decorator.

    @register_analyzer("voice")
    class VoiceAnalyzer(Analyzer):
        Options = VoiceOptions          # frozen dataclass; its fields become CLI flags
        needs = ("speech_regions",)     # computed once per segment, shared with speech

Adding a detector is one model module and one analyzer module: the CLI
flags, `liveinspect models`, the requested-weights check and the report all
read this registry. The built-in analyzers live in `BUILTIN_MODULES`, imported
on first lookup (so importing the registry never loads a model).
`build_inspector` is the one way the CLI, the HTTP service and tests build an
inspector.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any, TypeVar

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import Analyzer
from liveinspect.pipelines.options import NoOptions
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.pipelines.text import TextAnalyzer, TextOptions
from liveinspect.policy import Policy, load_policy
from liveinspect.schema import AnalyzerStatus

BUILTIN_MODULES = ("liveinspect.pipelines.speech", "liveinspect.pipelines.frames",
                   "liveinspect.pipelines.voice", "liveinspect.pipelines.avatar",
                   "liveinspect.pipelines.disclosure")
PLUGIN_GROUP = "liveinspect.analyzers"


_T = TypeVar("_T")


@dataclass(frozen=True)
class Product:
    """A per-segment product several analyzers read (VAD speech regions): computed once."""

    name: str
    compute: Callable[[Any, Any], Any]  # (segment, options) -> value
    Options: type


_analyzers: dict[str, type[Analyzer]] = {}
_stages: dict[str, type] = {}
_products: dict[str, Product] = {}
_assessors: dict[str, Callable[[Any], list]] = {}
_loaded = False
_load_lock = Lock()


def _register(table: dict[str, Any], kind: str, name: str, value: Any) -> None:
    existing = table.get(name)
    if existing is not None and existing is not value and \
            getattr(existing, "__qualname__", None) != getattr(value, "__qualname__", None):
        raise LiveInspectError(f"{kind} {name!r} is registered twice ({existing} and {value})")
    table[name] = value


def register_analyzer(name: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: make `cls` the analyzer called `name` (sets `cls.name`)."""
    def decorate(cls: type[_T]) -> type[_T]:
        cls.name = name  # type: ignore[attr-defined]
        _register(_analyzers, "analyzer", name, cls)
        return cls
    return decorate


def unregister_analyzer(name: str) -> None:
    """Forget the analyzer `name` (for plugins' tests; built-ins come back on the next lookup)."""
    global _loaded
    _analyzers.pop(name, None)
    if any(module for module in BUILTIN_MODULES if name in module):
        _loaded = False


def unregister_product(name: str) -> None:
    """Forget the product `name` (for plugins' tests)."""
    _products.pop(name, None)


def register_assessor(name: str) -> Callable[[Callable], Callable]:
    """Function decorator: `fn(scan)` looks at a whole scanned broadcast once every analyzer has
    finished (`BroadcastView`: broadcast, texts, findings, frame size, policy) and returns new
    findings, e.g. the AI-content labeling tiers, where a title can disclose a voice heard later."""
    def decorate(fn: Callable) -> Callable:
        _register(_assessors, "assessor", name, fn)
        return fn
    return decorate


def assessors() -> dict[str, Callable[[Any], list]]:
    _load_builtins()
    return dict(_assessors)


def register_stage(name: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: a frame stage (a part of the frame analyzer), reported as `frames.<name>`."""
    def decorate(cls: type[_T]) -> type[_T]:
        cls.name = name  # type: ignore[attr-defined]
        _register(_stages, "frame stage", name, cls)
        return cls
    return decorate


def register_product(name: str, options: type = NoOptions) -> Callable[[Callable], Callable]:
    """Function decorator: `fn(segment, options)` computes the per-segment product `name`."""
    def decorate(fn: Callable) -> Callable:
        _register(_products, "product", name, Product(name, fn, options))
        return fn
    return decorate


def _load_builtins() -> None:
    """Import the built-in analyzer modules, then every installed plugin's: a distribution that
    declares an entry point in the `liveinspect.analyzers` group names a module to import."""
    global _loaded
    with _load_lock:
        if not _loaded:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)
            for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
                importlib.import_module(entry.value)
            _loaded = True


def analyzer_classes() -> dict[str, type[Analyzer]]:
    """Every registered analyzer, in registration order (built-ins first)."""
    _load_builtins()
    return dict(_analyzers)


def stage_classes() -> dict[str, type]:
    _load_builtins()
    return dict(_stages)


def products() -> dict[str, Product]:
    _load_builtins()
    return dict(_products)


def component_options() -> dict[str, type]:
    """Qualified component name -> its options class: the text check, every analyzer, every frame
    stage ("frames.ocr") and every shared product; what the CLI builds its flags from."""
    options: dict[str, type] = {"text": TextOptions}
    for name, cls in analyzer_classes().items():
        options[name] = cls.Options
    for name, cls in stage_classes().items():
        options[f"frames.{name}"] = cls.Options
    for name, product in products().items():
        options[name] = product.Options
    return options


Settings = Mapping[str, Any]  # qualified component name -> its options instance


def build_analyzers(names: list[str] | None = None, settings: Settings | None = None,
                    policy: Policy | None = None) -> tuple[list[Analyzer], list[AnalyzerStatus]]:
    """Construct the named analyzers (default: all); those that cannot be built come back skipped."""
    settings = dict(settings or {})
    policy = policy or load_policy()
    classes = analyzer_classes()
    names = list(classes) if names is None else names
    built: list[Analyzer] = []
    skipped: list[AnalyzerStatus] = []
    for name in names:
        if name not in classes:
            known = ", ".join(classes)
            raise LiveInspectError(f"unknown analyzer {name!r}; known: {known}")
        cls = classes[name]
        try:
            built.append(cls(settings.get(name), policy=policy, settings=settings))
        except (LiveInspectError, ImportError, OSError) as error:
            skipped.append(AnalyzerStatus(name=name, state="skipped",
                                          reason=f"{type(error).__name__}: {error}"))
    return built, skipped


def build_text_analyzer(policy: Policy, claim_model: str | Path | None = None, *,
                        lexicon_only: bool = False, options: TextOptions | None = None) -> TextAnalyzer:
    """Lexicon plus a claim classifier: the shipped n-gram model, or the one in `claim_model`."""
    options = options or TextOptions(claim_model=str(claim_model) if claim_model else None,
                                     lexicon_only=lexicon_only)
    return TextAnalyzer.from_options(options, policy=policy)


def build_inspector(names: list[str] | None = None, *, options: ScanOptions | None = None,
                    policy: Policy | None = None, text_analyzer: TextAnalyzer | None = None,
                    settings: Settings | None = None,
                    on_batch: Callable[[str, int, float], None] | None = None,
                    max_batch_size: int | None = None) -> Inspector:
    """Load the named analyzers (default: all) once; the inspector then scans any number of
    broadcasts, concurrently if you like (`Inspector.scan` from several threads, `scan_many`).

    `settings` maps component names to option objects, e.g.
    `{"speech": SpeechOptions(language="zh"), "frames.clip": ClipOptions(model="ViT-B-32", ...)}`;
    `on_batch(analyzer, size, seconds)` sees every model batch (metrics) and `max_batch_size` caps
    them (see `Inspector`).
    """
    policy = policy or load_policy()
    settings = dict(settings or {})
    text_analyzer = text_analyzer or TextAnalyzer.from_options(settings.get("text") or TextOptions(),
                                                               policy=policy)
    analyzers, skipped = build_analyzers(names, settings, policy)
    product_options = {name: settings.get(name) or product.Options() for name, product in products().items()}
    return Inspector(analyzers, text_analyzer=text_analyzer, policy=policy, skipped=skipped,
                     options=options, product_options=product_options, on_batch=on_batch,
                     max_batch_size=max_batch_size)
