"""The exposure detector's ONNX path (backend, preprocessing, YOLO decoding) on a tiny stand-in model.

The real model (nudenet's 320n.onnx) is AGPL and optional, so a 320x320
YOLOv8-shaped graph is exported here: it always reports one box of one class.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from liveinspect.backends import BackendOptions
from liveinspect.errors import LiveInspectError
from liveinspect.models.exposure import NUDENET_LABELS, ExposureDetector


class OneBox(nn.Module):
    """(N, 3, 320, 320) -> (N, 4 + 18, 2): anchor 0 a 100x60 box at (160, 120), class 3 at 0.9."""

    def __init__(self) -> None:
        super().__init__()
        head = torch.zeros(4 + len(NUDENET_LABELS), 2)
        head[:4, 0] = torch.tensor([160.0, 120.0, 100.0, 60.0])
        head[4 + 3, 0] = 0.9
        self.register_buffer("head", head)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head.expand(images.shape[0], -1, -1) + 0.0 * images.mean()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("exposure") / "one-box.onnx"
    torch.onnx.export(OneBox(), (torch.zeros(1, 3, 320, 320),), str(path), dynamo=False,
                      input_names=["images"], output_names=["output0"],
                      dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
    return path


def test_detections_come_back_in_image_pixels(model_path):
    detector = ExposureDetector(model_path, threads=1)
    assert detector.backend.kind == "onnx" and detector.backend.options.threads == 1
    wide = np.zeros((320, 640, 3), np.uint8)  # padded to 640x640, so boxes scale by 2
    found = detector.detect_batch([wide, np.zeros((320, 320, 3), np.uint8)])
    assert [len(parts) for parts in found] == [1, 1]
    part = found[0][0]
    assert part.label == NUDENET_LABELS[3] and part.score == pytest.approx(0.9)
    assert part.box == pytest.approx((220.0, 180.0, 420.0, 300.0))
    assert found[1][0].box == pytest.approx((110.0, 90.0, 210.0, 150.0))
    assert detector.detect_batch([]) == []


def test_settings_and_inputs_are_checked(model_path):
    with pytest.raises(LiveInspectError, match="ONNX model"):
        ExposureDetector(model_path, backend=BackendOptions(kind="torch"))
    with pytest.raises(LiveInspectError, match="RGB uint8"):
        ExposureDetector(model_path).detect_batch([np.zeros((10, 10), np.float32)])
