"""The n-gram claim model as a PyTorch module, and its ONNX export; imported only for the torch backend.

`NgramLinear.forward` takes tensors and returns a tensor (two gathers and a
sum), so the same module trains, serves on torch and exports to ONNX.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liveinspect.backends.base import BackendOptions
from liveinspect.backends.torch import TorchBackend
from liveinspect.errors import CheckpointError

INPUT_NAMES = ("ids", "weights")
OUTPUT_NAMES = ("logits",)
# ONNX model properties that tie an exported file to the checkpoint it came from.
META_WEIGHTS = "liveinspect.weights_sha256"
META_LABELS = "liveinspect.labels"
META_TASK = "liveinspect.task"


class NgramLinear(nn.Module):
    """logits[b] = sum_l weights[b, l] * table[ids[b, l]] + bias."""

    def __init__(self, buckets: int, num_labels: int) -> None:
        super().__init__()
        self.table = nn.Embedding(buckets, num_labels, padding_idx=0)
        nn.init.zeros_(self.table.weight)  # a convex model: start from "no opinion"
        self.bias = nn.Parameter(torch.zeros(num_labels))

    def forward(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (self.table(ids) * weights.unsqueeze(-1)).sum(dim=1) + self.bias


def torch_backend(module: NgramLinear, options: BackendOptions) -> TorchBackend:
    return TorchBackend(module, INPUT_NAMES, OUTPUT_NAMES, options)


def module_from_state(tensors: Mapping[str, np.ndarray], buckets: int, num_labels: int,
                      where: str | Path) -> NgramLinear:
    model = NgramLinear(buckets, num_labels)
    try:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{where}: weights do not fit the model card: {error}") from error
    return model


def export_onnx(module: NgramLinear, path: str | Path, *, task: str, labels: list[str],
                weights_sha256: str | None) -> Path:
    """Write `module` as ONNX: inputs ids (int64) and weights (float32), both (batch, n); output
    logits (batch, labels), before temperature. The file records the checkpoint's weights
    checksum, so a reader can tell an export that no longer matches its checkpoint."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.zeros((1, 2), dtype=torch.int64), torch.zeros((1, 2), dtype=torch.float32))
    module = module.to("cpu").eval()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated, but the dynamo one needs onnxscript and
        # gains nothing for two gathers and a sum.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, example, str(path), dynamo=False,
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), opset_version=17,
                          dynamic_axes={"ids": {0: "batch", 1: "ngrams"},
                                        "weights": {0: "batch", 1: "ngrams"},
                                        "logits": {0: "batch"}})
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {META_TASK: task, META_LABELS: json.dumps(labels, ensure_ascii=False),
                                        META_WEIGHTS: weights_sha256 or ""})
    onnx.save(graph, str(path))
    return path
