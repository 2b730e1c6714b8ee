"""What every model family's exporter shares: where to write, the evaluation inputs, graph records.

The parity and int8 checks run on real inputs that ship with the checkout:
`tests/data/jfk.flac` (real speech) and the demo broadcast
(`examples/demo`: its video frames, speech and on-screen texts, with the
ground truth in `truth.json`). An installed wheel has neither; then
`--eval-data` names a checkout, and without any evaluation inputs int8 is
not attempted (the manifest says so) rather than shipped unchecked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.export.manifest import FileRecord, record_file

log = logging.getLogger("liveinspect.export")


@dataclass(frozen=True)
class EvalData:
    """Real inputs for parity and the int8 budget (any may be missing)."""

    jfk: Path | None = None  # 11 s of real English speech ("And so my fellow Americans...")
    jfk_text: str = ("And so my fellow Americans, ask not what your country can do for you, "
                     "ask what you can do for your country.")
    demo: Path | None = None  # examples/demo: demo.mp4, truth.json, cover.png
    # labelled genuine/synthetic speech (In-the-Wild layout with a split column) for AASIST's int8
    # EER budget, e.g. the corpus recipes/synthetic/build_voice_corpus.py builds; only when named
    voice: Path | None = None

    @classmethod
    def locate(cls, root: str | Path | None = None) -> EvalData:
        """The inputs in a checkout: `root`, else the one this package was imported from."""
        base = Path(root) if root is not None else Path(__file__).resolve().parents[2]
        jfk = base / "tests" / "data" / "jfk.flac"
        demo = base / "examples" / "demo"
        return cls(jfk=jfk if jfk.is_file() else None,
                   demo=demo if (demo / "demo.mp4").is_file() and (demo / "truth.json").is_file() else None)

    @property
    def available(self) -> bool:
        return self.jfk is not None or self.demo is not None

    def truth(self) -> dict[str, Any]:
        return json.loads((self.demo / "truth.json").read_text(encoding="utf-8")) if self.demo else {}

    def demo_speech_text(self) -> str:
        """The demo's spoken lines, in order: the reference transcript of its audio."""
        truth = self.truth()
        lines = [item for key in ("violations", "clean") for item in truth.get(key, [])
                 if item.get("modality") == "speech"]
        return " ".join(item["text"] for item in sorted(lines, key=lambda item: item["t_start"]))


@dataclass
class ExportContext:
    """One export run: the output root, whether to try int8, the evaluation inputs."""

    out: Path
    int8: bool = False
    eval_data: EvalData = field(default_factory=EvalData.locate)
    progress: Callable[[str], None] = log.info

    def folder(self, name: str) -> Path:
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path


_TYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 10: "float16"}


def graph_record(root: Path, path: Path, precision: str) -> FileRecord:
    """A manifest record of an ONNX graph: checksum, opset, input and output names and shapes."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def values(items) -> list[dict[str, Any]]:
        described = []
        for value in items:
            tensor = value.type.tensor_type
            shape = [d.dim_param or d.dim_value for d in tensor.shape.dim]
            described.append({"name": value.name, "type": _TYPES.get(tensor.elem_type, str(tensor.elem_type)),
                              "shape": shape})
        return described

    initializers = {i.name for i in model.graph.initializer}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return record_file(root, path, precision=precision, opset=opset,
                       inputs=values(i for i in model.graph.input if i.name not in initializers),
                       outputs=values(model.graph.output))


def errors(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Max absolute error, and relative to the reference's largest magnitude."""
    reference = np.asarray(reference, np.float64)
    candidate = np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    worst = float(np.abs(reference - candidate).max(initial=0.0))
    scale = float(np.abs(reference).max(initial=0.0)) or 1.0
    return {"max_abs": worst, "max_rel": worst / scale}


def rounded(figures: dict[str, Any], digits: int = 8) -> dict[str, Any]:
    out = {}
    for key, value in figures.items():
        if isinstance(value, float):
            out[key] = float(f"{value:.{digits}g}")
        elif isinstance(value, dict):
            out[key] = rounded(value, digits)
        else:
            out[key] = value
    return out


def demo_frames(data: EvalData, *, every: int = 4, limit: int = 16) -> list[np.ndarray]:
    """RGB frames of the demo (1 per second, every `every`-th, at most `limit`): real inputs for the
    frame models' parity checks."""
    if data.demo is None:
        return []
    from liveinspect.media import iter_segments

    frames = [frame.image for segment in iter_segments(data.demo / "demo.mp4", window_s=30.0, fps=1.0)
              for frame in segment.frames]
    return frames[::every][:limit]


def median_seconds(run: Callable[[], Any], repeats: int = 3) -> float:
    """Median wall time of `run()` over `repeats` calls, after one warm-up call."""
    import time

    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def copy_files(ctx: ExportContext, sources: list[Path], folder: str) -> list[Path]:
    import shutil

    target = ctx.folder(folder)
    copied = []
    for source in sources:
        shutil.copyfile(source, target / source.name)
        copied.append(target / source.name)
    return copied
