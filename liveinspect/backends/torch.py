"""`TorchBackend`: a tensor-only `nn.Module` behind the numpy-in, numpy-out protocol.

This is the only inference-side module that imports torch at module level;
model wrappers import it (and their `nn.Module` definitions) only when the
torch backend is chosen. The wrapped module's `forward` takes the backend's
named inputs as keyword tensors and returns a tensor, a tuple of tensors in
`output_names` order, or a dict keyed by output name: nothing else, which is
also what keeps it exportable to ONNX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from liveinspect.backends.base import BackendOptions, check_inputs
from liveinspect.errors import LiveInspectError


def torch_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: the one named, else CUDA when torch sees a GPU, else the CPU."""
    if device is not None:
        resolved = torch.device(device)
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise LiveInspectError(f"device {device!r} asked for, but torch sees no CUDA GPU; "
                                   "use device='cpu'")
        return resolved
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchBackend:
    """Runs `module` under `torch.inference_mode` on the device and precision of `options`."""

    kind = "torch"

    def __init__(self, module: nn.Module, input_names: Sequence[str], output_names: Sequence[str],
                 options: BackendOptions = BackendOptions()) -> None:
        if options.kind != "torch":
            raise LiveInspectError(f"TorchBackend got options for {options.kind!r}")
        if options.precision == "int8":
            raise LiveInspectError("int8 runs on the ONNX backend (a quantized model file); "
                                   "use precision='fp32' or 'fp16' with torch")
        self.device = torch_device(options.device)
        self.fp16 = options.precision == "fp16"
        if self.fp16 and self.device.type != "cuda":
            raise LiveInspectError("precision='fp16' needs a CUDA device; use 'fp32' on the CPU")
        if options.threads is not None:
            torch.set_num_threads(options.threads)  # process-wide: torch has no per-module setting
        self.options = options
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        self.module = module.to(self.device).eval()
        if self.fp16:
            self.module.half()

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return tensor.half() if self.fp16 and tensor.is_floating_point() else tensor

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(self, inputs)
        with torch.inference_mode():
            outputs = self.module(**{name: self._tensor(inputs[name]) for name in self.input_names})
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        if isinstance(outputs, Mapping):
            outputs = tuple(outputs[name] for name in self.output_names)
        if len(outputs) != len(self.output_names):
            raise LiveInspectError(f"{type(self.module).__name__} returned {len(outputs)} outputs, "
                                   f"expected {list(self.output_names)}")
        return {name: _to_numpy(tensor) for name, tensor in zip(self.output_names, outputs, strict=True)}


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.detach().cpu().numpy()
