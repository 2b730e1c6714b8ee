"""A small ONNX graph builder over `onnx.helper`, for graphs written from numpy weights.

Writing a graph node by node (rather than tracing a torch module) keeps the
exported layout a decision of ours: which tensors are inputs (a key/value
cache per layer, so nothing is sliced out of a stacked tensor at every
step), which constants are folded into weights (attention scales), which
products are weight products that int8 quantization may touch. It needs
onnx and numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime the project supports (>= 1.17)
WEIGHT_SUFFIX = "_w"  # MatMul nodes whose second input is a weight end in this (see quantize.py)

_ELEMENT_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "bool": 9, "float16": 10}


class GraphBuilder:
    """Nodes, initializers, inputs and outputs of one graph; `model()` makes the `ModelProto`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._names: set[str] = set()
        self._constants: dict[tuple, str] = {}

    def _unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._names:
            candidate, n = f"{name}_{n}", n + 1
        self._names.add(candidate)
        return candidate

    def input(self, name: str, dtype: str, shape: Sequence[int | str]) -> str:
        from onnx import helper

        self._names.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, _ELEMENT_TYPES[dtype], list(shape)))
        return name

    def output(self, value: str, name: str, dtype: str, shape: Sequence[int | str]) -> str:
        from onnx import helper

        self.op("Identity", [value], name=name)
        self.outputs.append(helper.make_tensor_value_info(name, _ELEMENT_TYPES[dtype], list(shape)))
        return name

    def const(self, name: str, array: np.ndarray) -> str:
        """An initializer; small constants with the same value are shared."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(array)
        key = None
        if array.size <= 8:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._constants:
                return self._constants[key]
        name = self._unique(name)
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._constants[key] = name
        return name

    def ints(self, *values: int) -> str:
        return self.const("i64", np.array(values, dtype=np.int64))

    def scalar(self, value: float) -> str:
        return self.const("f32", np.array(value, dtype=np.float32))

    def op(self, op_type: str, inputs: Sequence[str], *, name: str | None = None, outputs: int = 1,
           **attributes: Any) -> Any:
        """Add a node; returns its output name (a list of names when `outputs` > 1)."""
        from onnx import helper

        if name is not None and outputs == 1:
            self._names.add(name)
            names = [name]
        else:
            base = self._unique(name or op_type.lower())
            names = [base] if outputs == 1 else [self._unique(f"{base}_{i}") for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=names[0], **attributes))
        return names[0] if outputs == 1 else names

    def model(self, metadata: Mapping[str, Any] | None = None):
        import onnx
        from onnx import helper

        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="liveinspect")
        model.ir_version = IR_VERSION
        if metadata:
            helper.set_model_props(model, {key: value if isinstance(value, str) else json.dumps(value)
                                           for key, value in metadata.items()})
        onnx.checker.check_model(model, full_check=False)
        return model

    # -- layers shared by the transformer graphs ---------------------------------------------

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None, name: str) -> str:
        """x @ weight.T (+ bias): `weight` is (out, in) as torch stores it."""
        product = self.op("MatMul", [x, self.const(f"{name}.weight", weight.T.astype(np.float32))],
                          name=self._unique(f"{name}{WEIGHT_SUFFIX}"))
        if bias is None:
            return product
        return self.op("Add", [product, self.const(f"{name}.bias", bias.astype(np.float32))])

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str, eps: float = 1e-5) -> str:
        return self.op("LayerNormalization", [x, self.const(f"{name}.weight", weight.astype(np.float32)),
                                              self.const(f"{name}.bias", bias.astype(np.float32))],
                       axis=-1, epsilon=eps)

    def gelu(self, x: str) -> str:
        """Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)): ONNX Runtime fuses this pattern into one op."""
        erf = self.op("Erf", [self.op("Div", [x, self.scalar(float(np.sqrt(2.0)))])])
        half = self.op("Mul", [x, self.scalar(0.5)])
        return self.op("Mul", [half, self.op("Add", [erf, self.scalar(1.0)])])
