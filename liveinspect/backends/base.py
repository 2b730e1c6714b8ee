"""The one protocol every model runs behind: named numpy arrays in, named numpy arrays out.

A model wrapper (the claim classifier, MTCNN, CLIP, the exposure detector)
does its own preprocessing and postprocessing in numpy and hands the
backend a batch of arrays; the backend owns the runtime: which library,
which device, how many threads, which precision. Two implementations:

- `TorchBackend` (`liveinspect.backends.torch`): a tensor-only `nn.Module`
  whose `forward` takes the named inputs as keyword tensors. Training and
  central GPU inference use it.
- `OnnxBackend` (`liveinspect.backends.onnx`): an ONNX Runtime session over
  an exported file. Edge nodes use it; it never imports torch.

`BackendOptions` is the one place those runtime choices are made; analyzers
carry it in their options and pass it down unchanged. This module imports
neither torch nor onnxruntime, so options can be built, printed and checked
on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from liveinspect.errors import LiveInspectError

BackendKind = Literal["torch", "onnx"]
Precision = Literal["fp32", "fp16", "int8"]
KINDS: tuple[str, ...] = ("torch", "onnx")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BackendOptions:
    """Where and how a model runs; one value shared by every model of an analyzer.

    - `kind`: "torch" (PyTorch module) or "onnx" (ONNX Runtime session over an exported file).
    - `device`: "cpu", "cuda" or "cuda:N". None: CUDA when torch sees a GPU (torch), the CPU (onnx).
    - `threads`: intra-op threads. None: the runtime's default. For torch this is the
      process-wide `torch.set_num_threads`, so it is applied only when given.
    - `precision`: "fp32"; "fp16" (torch: half weights on CUDA; onnx: a float16 model file);
      "int8" (onnx: a quantized model file; torch refuses it, there is no int8 torch path here).
    - `providers`: ONNX Runtime execution providers in order of preference; empty: chosen
      from `device`. Ignored by torch.
    """

    kind: BackendKind = "torch"
    device: str | None = None
    threads: int | None = None
    precision: Precision = "fp32"
    providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LiveInspectError(f"backend kind must be one of {KINDS}, got {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise LiveInspectError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise LiveInspectError(f"threads must be at least 1 (None: the default), got {self.threads}")
        if self.device is not None and not _valid_device(self.device):
            raise LiveInspectError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if not isinstance(self.providers, tuple):
            object.__setattr__(self, "providers", tuple(self.providers))

    def with_kind(self, kind: BackendKind) -> BackendOptions:
        return replace(self, kind=kind)

    @property
    def wants_cuda(self) -> bool:
        return self.device is not None and self.device.startswith("cuda")


def _valid_device(device: str) -> bool:
    if device in ("cpu", "cuda"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


def backend_options(spec: BackendOptions | str | None) -> BackendOptions:
    """`BackendOptions` from what callers pass: options, a kind name ("torch", "onnx") or None."""
    if spec is None:
        return BackendOptions()
    if isinstance(spec, BackendOptions):
        return spec
    if isinstance(spec, str):
        return BackendOptions(kind=spec)  # type: ignore[arg-type]
    raise LiveInspectError(f"backend must be 'torch', 'onnx' or BackendOptions, got {spec!r}")


@runtime_checkable
class Backend(Protocol):
    """One loaded model on one runtime. `run` is safe to call from several threads."""

    kind: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def check_inputs(backend: Backend, inputs: Mapping[str, np.ndarray]) -> None:
    """A clear error when a caller's arrays do not name exactly the model's inputs."""
    missing = [name for name in backend.input_names if name not in inputs]
    extra = [name for name in inputs if name not in backend.input_names]
    if missing or extra:
        raise LiveInspectError(f"{backend.kind} model takes inputs {list(backend.input_names)}; "
                               f"missing {missing}, unexpected {extra}")


def precision_variant(path: str | Path, precision: Precision) -> Path:
    """The exported file for a precision: `model.onnx` (fp32), `model.fp16.onnx`, `model.int8.onnx`.

    An ONNX graph's precision is fixed when it is exported or quantized, so for the ONNX
    backend `BackendOptions.precision` picks which file of a model to open.
    """
    path = Path(path)
    if precision == "fp32":
        return path
    return path.with_name(f"{path.stem}.{precision}{path.suffix}")
