"""`OnnxBackend`: an ONNX Runtime session behind the numpy-in, numpy-out protocol (no torch).

Session settings come from `BackendOptions`: intra-op threads, execution
providers (from `device` unless named), full graph optimisation. Inputs are
cast to the dtype the graph declares (a float16 export takes float16), and
float16 outputs come back as float32, so wrappers see one dtype whatever the
file's precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from liveinspect.backends.base import BackendOptions, check_inputs
from liveinspect.errors import CheckpointError, LiveInspectError

# ONNX Runtime's type names for the element types a graph input may declare.
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
           "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def providers_for(options: BackendOptions) -> list[str]:
    """The execution providers to ask for, checked against what this onnxruntime build has."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if options.providers:
        wanted = list(options.providers)
    elif options.wants_cuda:
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        wanted = ["CPUExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise LiveInspectError(f"ONNX Runtime here has providers {available}, not {missing}; install the "
                               "onnxruntime build that has them (e.g. onnxruntime-gpu for CUDA) or "
                               "choose device='cpu'")
    return wanted


_default_threads: int | None = None


def set_default_threads(threads: int | None) -> None:
    """Intra-op threads for every session whose options name none (None: ONNX Runtime's own
    default, one per core). Process-wide, as `torch.set_num_threads` is: an edge node sets it once
    (`liveinspect edge scan --threads N`) so its models share the cores instead of each taking all."""
    global _default_threads
    if threads is not None and threads < 1:
        raise LiveInspectError(f"threads must be at least 1 (None: the runtime's default), got {threads}")
    _default_threads = threads


def default_threads() -> int | None:
    return _default_threads


def session_options(options: BackendOptions):
    import onnxruntime

    settings = onnxruntime.SessionOptions()
    settings.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle threads sleep instead of spinning: a scan runs a dozen sessions side by side on a few cores,
    # and a spinning pool of one steals them from the others (torch Whisper ran 2.2x slower after an
    # ONNX Runtime session had run in the same process); a session alone runs no slower.
    settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
    settings.add_session_config_entry("session.inter_op.allow_spinning", "0")
    threads = options.threads if options.threads is not None else _default_threads
    if threads is not None:
        settings.intra_op_num_threads = threads
        # Models here are chains of operators; parallel branches gain nothing and cost threads.
        settings.inter_op_num_threads = 1
    return settings


class OnnxBackend:
    """One ONNX Runtime session over the file at `path`."""

    kind = "onnx"

    def __init__(self, path: str | Path, options: BackendOptions = BackendOptions(kind="onnx")) -> None:
        import onnxruntime

        if options.kind != "onnx":
            raise LiveInspectError(f"OnnxBackend got options for {options.kind!r}")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ONNX model {path} is missing")
        providers = providers_for(options)
        provider_options = None
        if options.device and ":" in options.device and "CUDAExecutionProvider" in providers:
            device_id = options.device.split(":")[1]
            provider_options = [{"device_id": device_id} if p == "CUDAExecutionProvider" else {}
                                for p in providers]
        try:
            self.session = onnxruntime.InferenceSession(str(path), session_options(options),
                                                        providers=providers,
                                                        provider_options=provider_options)
        except Exception as error:  # onnxruntime raises its own types for unreadable graphs
            raise CheckpointError(f"{path}: not a loadable ONNX model: {error}") from error
        self.path = path
        self.options = options
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self._dtypes = {i.name: _DTYPES.get(i.type) for i in self.session.get_inputs()}
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(self, inputs)
        feed = {}
        for name in self.input_names:
            array = np.asarray(inputs[name])
            dtype = self._dtypes[name]
            feed[name] = array.astype(dtype, copy=False) if dtype is not None else array
        outputs = self.session.run(list(self.output_names), feed)
        return {name: out.astype(np.float32) if out.dtype == np.float16 else out
                for name, out in zip(self.output_names, outputs, strict=True)}
