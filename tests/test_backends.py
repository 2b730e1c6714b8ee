"""The backend protocol: options checked in one place, torch and ONNX Runtime giving the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from liveinspect.backends import Backend, BackendOptions, backend_options, precision_variant
from liveinspect.backends.onnx import OnnxBackend, providers_for
from liveinspect.backends.torch import TorchBackend
from liveinspect.errors import CheckpointError, LiveInspectError


class TwoHeads(nn.Module):
    """Named tensor inputs, a tuple of tensor outputs: the shape every wrapped module has."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(x).softmax(dim=-1), ids * 2


def _export(module: nn.Module, path) -> None:
    torch.onnx.export(module, (torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64)), str(path),
                      dynamo=False, input_names=["x", "ids"], output_names=["probs", "doubled"],
                      dynamic_axes={"x": {0: "b"}, "ids": {0: "b"}, "probs": {0: "b"}, "doubled": {0: "b"}})


def test_options_are_checked_where_they_are_made() -> None:
    assert backend_options(None) == BackendOptions()
    assert backend_options("onnx").kind == "onnx"
    assert BackendOptions(providers=["CPUExecutionProvider"]).providers == ("CPUExecutionProvider",)
    for bad in ({"kind": "tensorflow"}, {"precision": "fp8"}, {"threads": 0}, {"device": "gpu"},
                {"device": "cuda:x"}):
        with pytest.raises(LiveInspectError):
            BackendOptions(**bad)
    with pytest.raises(LiveInspectError):
        backend_options(3)
    assert BackendOptions(device="cuda:1").wants_cuda and not BackendOptions(device="cpu").wants_cuda
    assert precision_variant("m/model.onnx", "fp32").name == "model.onnx"
    assert precision_variant("m/model.onnx", "int8").name == "model.int8.onnx"


def test_torch_and_onnx_backends_agree(tmp_path) -> None:
    torch.manual_seed(0)
    module = TwoHeads()
    _export(module, tmp_path / "two.onnx")
    inputs = {"x": np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32),
              "ids": np.arange(5, dtype=np.int64)}
    on_torch = TorchBackend(module, ("x", "ids"), ("probs", "doubled"), BackendOptions(device="cpu"))
    on_onnx = OnnxBackend(tmp_path / "two.onnx", BackendOptions(kind="onnx", threads=1))
    assert isinstance(on_torch, Backend) and isinstance(on_onnx, Backend)
    assert on_onnx.input_names == ("x", "ids") and on_onnx.output_names == ("probs", "doubled")
    a, b = on_torch.run(inputs), on_onnx.run(inputs)
    assert set(a) == set(b) == {"probs", "doubled"}
    assert isinstance(a["probs"], np.ndarray) and a["probs"].dtype == np.float32
    np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-6)
    assert a["doubled"].tolist() == b["doubled"].tolist() == [0, 2, 4, 6, 8]
    # float64 callers are cast to the graph's float32 input rather than rejected
    np.testing.assert_allclose(on_onnx.run({**inputs, "x": inputs["x"].astype(np.float64)})["probs"],
                               b["probs"], atol=1e-6)


def test_wrong_inputs_and_impossible_settings_are_named(tmp_path) -> None:
    backend = TorchBackend(TwoHeads(), ("x", "ids"), ("probs", "doubled"), BackendOptions(device="cpu"))
    with pytest.raises(LiveInspectError, match="missing \\['ids'\\]"):
        backend.run({"x": np.zeros((1, 4), np.float32)})
    with pytest.raises(LiveInspectError, match="returned 2 outputs"):
        TorchBackend(TwoHeads(), ("x", "ids"), ("probs",), BackendOptions(device="cpu")).run(
            {"x": np.zeros((1, 4), np.float32), "ids": np.zeros(1, np.int64)})
    with pytest.raises(LiveInspectError, match="int8"):
        TorchBackend(TwoHeads(), ("x", "ids"), ("p", "d"), BackendOptions(precision="int8"))
    with pytest.raises(LiveInspectError, match="fp16"):
        TorchBackend(TwoHeads(), ("x", "ids"), ("p", "d"), BackendOptions(device="cpu", precision="fp16"))
    with pytest.raises(LiveInspectError, match="options for 'onnx'"):
        TorchBackend(TwoHeads(), ("x", "ids"), ("p", "d"), BackendOptions(kind="onnx"))
    with pytest.raises(CheckpointError, match="missing"):
        OnnxBackend(tmp_path / "absent.onnx", BackendOptions(kind="onnx"))
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="not a loadable"):
        OnnxBackend(tmp_path / "junk.onnx", BackendOptions(kind="onnx"))
    with pytest.raises(LiveInspectError, match="providers"):
        providers_for(BackendOptions(kind="onnx", providers=("NoSuchExecutionProvider",)))
    if not torch.cuda.is_available():
        with pytest.raises(LiveInspectError, match="no CUDA"):
            TorchBackend(TwoHeads(), ("x", "ids"), ("p", "d"), BackendOptions(device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 runs on CUDA only; no GPU here")
def test_fp16_on_cuda_returns_float32_close_to_fp32() -> None:
    torch.manual_seed(0)
    module = TwoHeads()
    inputs = {"x": np.ones((3, 4), np.float32), "ids": np.arange(3, dtype=np.int64)}
    full = TorchBackend(module, ("x", "ids"), ("probs", "doubled"), BackendOptions(device="cpu")).run(inputs)
    half = TorchBackend(module, ("x", "ids"), ("probs", "doubled"),
                        BackendOptions(device="cuda", precision="fp16")).run(inputs)
    assert half["probs"].dtype == np.float32
    np.testing.assert_allclose(half["probs"], full["probs"], atol=2e-3)
