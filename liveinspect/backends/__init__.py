"""Model backends: one protocol (numpy in, numpy out), a PyTorch and an ONNX Runtime implementation.

`liveinspect.backends.base` holds `BackendOptions` and the `Backend` protocol
and imports neither runtime; `liveinspect.backends.torch.TorchBackend` and
`liveinspect.backends.onnx.OnnxBackend` are imported by whoever chose them.
"""

from liveinspect.backends.base import (
    Backend,
    BackendOptions,
    backend_options,
    check_inputs,
    precision_variant,
)

__all__ = ["Backend", "BackendOptions", "backend_options", "check_inputs", "precision_variant"]
