"""MTCNN's three nets as PyTorch modules, their weights and their ONNX export; torch backend only.

The weights are the three small state dicts (`pnet.pt`, `rnet.pt`,
`onet.pt`, 2 MB, MIT) that the `facenet-pytorch` wheel ships. That package is
never imported (it pins an old torch); its files are loaded with
`weights_only=True` into the modules below, whose parameter names and shapes
match them. Each `forward` takes a batch of normalised NCHW pixels and
returns tensors only, so the nets export to ONNX as they are.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from liveinspect.backends.base import BackendOptions
from liveinspect.backends.torch import TorchBackend
from liveinspect.errors import CheckpointError

INPUT_NAMES = ("pixels",)
OUTPUT_NAMES = {"pnet": ("offsets", "probs"), "rnet": ("offsets", "probs"),
                "onet": ("offsets", "landmarks", "probs")}


class PNet(nn.Module):
    """Proposal net: 12x12 windows -> box offsets and face probability, fully convolutional."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(pixels)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(pixels)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were converted from a (W, H)-ordered original; flatten in that order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48x48 crops: box offsets, five landmarks and probability."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(pixels)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


NETS: dict[str, type[nn.Module]] = {"pnet": PNet, "rnet": RNet, "onet": ONet}
CROP_SIZE = {"rnet": 24, "onet": 48}


def load_net(name: str, folder: Path) -> nn.Module:
    """`name` ("pnet", "rnet", "onet") with the weights in `folder/<name>.pt`, never unpickling code."""
    path = folder / f"{name}.pt"
    module = NETS[name]()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: not a usable MTCNN state dict: {error}") from error
    return module.eval()


def torch_backends(folder: Path, options: BackendOptions) -> dict[str, TorchBackend]:
    return {name: TorchBackend(load_net(name, folder), INPUT_NAMES, OUTPUT_NAMES[name], options)
            for name in NETS}


def export_onnx(weights_dir: Path, out_dir: str | Path) -> list[Path]:
    """Write pnet.onnx (any image size), rnet.onnx and onet.onnx (any number of crops) to `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NETS:
        side = CROP_SIZE.get(name, 24)
        dynamic = {"pixels": {0: "batch", 2: "height", 3: "width"} if name == "pnet" else {0: "batch"}}
        spatial = {0: "batch", 2: "rows", 3: "columns"} if name == "pnet" else {0: "batch"}
        dynamic.update({output: spatial for output in OUTPUT_NAMES[name]})
        path = out / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter suffices
            torch.onnx.export(load_net(name, weights_dir), (torch.zeros(1, 3, side, side),), str(path),
                              dynamo=False, input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES[name]), opset_version=17,
                              dynamic_axes=dynamic)
        written.append(path)
    return written
