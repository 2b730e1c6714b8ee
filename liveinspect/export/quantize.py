"""int8 twins of exported graphs: ONNX Runtime's dynamic or static (calibrated) quantization.

Dynamic quantization stores the weights of matrix products (and, where
asked, convolutions) as int8 with a scale per output channel, and
quantizes each activation batch on the fly, so it needs no calibration
data and keeps the graph's inputs and outputs float32. Only products with
a weight operand are touched (graphs written by `GraphBuilder` name them
`..._w`): an attention product of two activations (q @ k) would be
quantized per batch on both sides, which costs accuracy for little time.
Static quantization (`quantize_static_int8`) also stores activations as
uint8 with ranges measured on calibration inputs, in QDQ form, which ONNX
Runtime fuses into integer kernels (QLinearConv, ...); a convolution
quantized dynamically instead runs ConvInteger plus a quantize/dequantize
per call, which is slower than fp32 for the small nets here. Whether the
result is good enough is decided per model against its accuracy budget
(`budget.py`), not here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.export.graph import WEIGHT_SUFFIX


def weight_nodes(model, op_types: tuple[str, ...] = ("MatMul",)) -> list[str]:
    """Names of the nodes whose second input is an initializer (a weight), of the given types."""
    initializers = {i.name for i in model.graph.initializer}
    picked = []
    for node in model.graph.node:
        if node.op_type not in op_types or len(node.input) < 2:
            continue
        if node.input[1] in initializers or node.name.rsplit("_", 1)[0].endswith(WEIGHT_SUFFIX):
            picked.append(node.name)
    return picked


def quantize_int8(fp32_path: str | Path, int8_path: str | Path, *,
                  op_types: tuple[str, ...] = ("MatMul",), per_channel: bool = True,
                  exclude: tuple[str, ...] = ()) -> Path:
    """Write the dynamically quantized twin of `fp32_path`; metadata is carried over. Weight nodes
    whose name contains one of `exclude` stay float32 (see the Whisper encoder's second MLP
    product in export/speech.py for why some must)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    source = onnx.load(str(fp32_path), load_external_data=False)
    nodes = [n for n in weight_nodes(source, op_types) if not any(part in n for part in exclude)]
    if not nodes:
        raise ValueError(f"{fp32_path} has no {'/'.join(op_types)} node with a weight to quantize")
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(max(quiet, logging.ERROR))  # the quantizer logs every tensor at INFO
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                         per_channel=per_channel, op_types_to_quantize=list(op_types),
                         nodes_to_quantize=nodes, extra_options={"MatMulConstBOnly": True})
    finally:
        logging.getLogger().setLevel(quiet)
    quantized = onnx.load(str(int8_path))
    onnx.helper.set_model_props(quantized, {p.key: p.value for p in source.metadata_props})
    onnx.save(quantized, str(int8_path))
    return int8_path


class _Feeds:
    """ONNX Runtime's CalibrationDataReader over recorded inputs."""

    def __init__(self, feeds: list[dict]) -> None:
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def quantize_static_int8(fp32_path: str | Path, int8_path: str | Path, feeds: list[dict], *,
                         op_types: tuple[str, ...], exclude: tuple[str, ...] = ()) -> Path:
    """Write the static int8 twin of `fp32_path` in QDQ form: activations uint8 with MinMax ranges
    from `feeds` (input dicts as the graph takes them), weights int8 per output channel. The nodes
    named in `exclude` stay float32; metadata is carried over."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    if not feeds:
        raise ValueError(f"static int8 of {fp32_path} needs calibration inputs")
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    prepared = int8_path.with_suffix(".prepared.onnx")
    source = onnx.load(str(fp32_path), load_external_data=False)
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(max(quiet, logging.ERROR))
    try:
        quant_pre_process(str(fp32_path), str(prepared))
        quantize_static(str(prepared), str(int8_path), _Feeds(feeds), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=list(op_types), nodes_to_exclude=list(exclude))
    finally:
        logging.getLogger().setLevel(quiet)
        prepared.unlink(missing_ok=True)
    quantized = onnx.load(str(int8_path))
    onnx.helper.set_model_props(quantized, {p.key: p.value for p in source.metadata_props})
    onnx.save(quantized, str(int8_path))
    return int8_path


def recorded_inputs(backends: dict, run: Callable[[], Any]) -> dict[str, list[dict]]:
    """The inputs each backend of `backends` (name -> backend, as a model holds them) received
    while `run()` ran: calibration feeds taken from a model's real pipeline."""
    recorded: dict[str, list[dict]] = {name: [] for name in backends}

    class Recorder:
        def __init__(self, name: str, inner) -> None:
            self.name, self.inner = name, inner
            self.kind, self.input_names, self.output_names = inner.kind, inner.input_names, inner.output_names

        def run(self, inputs):
            recorded[self.name].append({key: np.array(value) for key, value in inputs.items()})
            return self.inner.run(inputs)

    saved = dict(backends)
    backends.update({name: Recorder(name, inner) for name, inner in saved.items()})
    try:
        run()
    finally:
        backends.update(saved)
    return recorded
