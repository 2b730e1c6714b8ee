"""`SmallConvNet`, the media classifiers' PyTorch module; imported only for training and the torch backend."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

INPUT_NAMES = ("pixels",)
OUTPUT_NAMES = ("logits",)


class SmallConvNet(nn.Module):
    """Three conv-ReLU-pool blocks, global average pooling, a linear head."""

    def __init__(self, in_channels: int, num_labels: int, width: int = 16) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for scale in (1, 2, 4):
            blocks += [nn.Conv2d(channels, width * scale, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width * scale
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, num_labels)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixels).mean(dim=(2, 3)))


def export_onnx(module: SmallConvNet, path: str | Path, example_shape: tuple[int, ...]) -> Path:
    """Write the net as ONNX: input pixels (batch, channels, height, width), output logits."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter suffices here
        torch.onnx.export(module.to("cpu").eval(), (torch.zeros(example_shape),), str(path), dynamo=False,
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), opset_version=17,
                          dynamic_axes={"pixels": {0: "batch", 3: "frames"}, "logits": {0: "batch"}})
    return path
