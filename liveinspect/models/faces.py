"""Face detection with MTCNN (Zhang et al. 2016), in our own PyTorch modules.

The weights are the three small state dicts (`pnet.pt`, `rnet.pt`,
`onet.pt`, 2 MB, MIT) that the `facenet-pytorch` wheel ships. That package is
never imported (it pins an old torch); its files are found through the
installed distribution's metadata and loaded with `weights_only=True` into the
modules below, whose parameter names and shapes match them.

Batching: the proposal net (P-Net) is fully convolutional and runs per image
over an image pyramid; the refinement (R-Net) and output (O-Net) stages run
once over the candidate boxes of every image in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms, nms, roi_align

from liveinspect.errors import CheckpointError, LiveInspectError, WeightsNotFoundError
from liveinspect.models.packaged import installed_files

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
WEIGHTS_HINT = ("install the MTCNN weight files with `pip install --no-deps facenet-pytorch==2.6.0` "
                "or pass weights_dir= a folder holding pnet.pt, rnet.pt and onet.pt")


class PNet(nn.Module):
    """Proposal net: 12x12 windows -> face probability and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were converted from a (W, H)-ordered original; flatten in that order.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48x48 crops: probability, box offsets and five landmarks."""

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

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


@dataclass(frozen=True)
class FaceBox:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input image
    score: float
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def locate_mtcnn_weights() -> Path | None:
    """The folder of the MTCNN weight files shipped by an installed facenet-pytorch, if any."""
    for pnet in installed_files("facenet-pytorch", lambda entry: entry.name == "pnet.pt"):
        if all((pnet.parent / name).is_file() for name in WEIGHT_FILES):
            return pnet.parent
    return None


def _load_state(module: nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: not a usable MTCNN state dict: {error}") from error


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - 127.5) * 0.0078125


class FaceDetector:
    """MTCNN over RGB uint8 images; `detect_batch` returns faces per image, largest first.

    `max_side` downsizes big frames before detection (presenters' faces are
    large; the pyramid cost grows with the image area).
    """

    def __init__(self, weights_dir: str | Path | None = None, *, min_face_size: int = 24,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
                 factor: float = 0.709, max_side: int = 720) -> None:
        folder = Path(weights_dir) if weights_dir is not None else locate_mtcnn_weights()
        if folder is None or not all((folder / n).is_file() for n in WEIGHT_FILES):
            raise WeightsNotFoundError(f"MTCNN weights not found; {WEIGHTS_HINT}")
        self.pnet, self.rnet, self.onet = PNet().eval(), RNet().eval(), ONet().eval()
        for module, name in zip((self.pnet, self.rnet, self.onet), WEIGHT_FILES, strict=True):
            _load_state(module, folder / name)
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor
        self.max_side = max_side
        self.version = "mtcnn-facenet-pytorch-2.6.0"

    @torch.inference_mode()
    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[FaceBox]]:
        tensors, scales = [], []
        for image in images:
            if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
                raise LiveInspectError(f"expected RGB uint8 images, got {getattr(image, 'shape', image)}")
            pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()[None]
            shrink = min(1.0, self.max_side / max(image.shape[:2]))
            if shrink < 1.0:
                size = (round(image.shape[0] * shrink), round(image.shape[1] * shrink))
                pixels = F.interpolate(pixels, size=size, mode="area")
            tensors.append(pixels)
            scales.append(shrink)
        proposals = [self._propose(t) for t in tensors]
        boxes, owners = self._refine(tensors, proposals)
        faces = self._output(tensors, boxes, owners)
        return [sorted((self._rescale(f, s) for f in found), key=lambda f: -f.area)
                for found, s in zip(faces, scales, strict=True)]

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        return self.detect_batch([image])[0]

    # -- the three stages -----------------------------------------------------------

    def _propose(self, pixels: torch.Tensor) -> torch.Tensor:
        """Stage 1: candidate squares (N, 5: x0, y0, x1, y1, score) from the image pyramid."""
        height, width = pixels.shape[2:]
        scale = 12.0 / self.min_face_size
        side = min(height, width) * scale
        found = []
        while side >= 12:
            resized = F.interpolate(pixels, size=(int(height * scale + 1), int(width * scale + 1)),
                                    mode="area")
            offsets, probs = self.pnet(_normalise(resized))
            ys, xs = torch.nonzero(probs[0, 1] >= self.thresholds[0], as_tuple=True)
            if len(ys):
                score = probs[0, 1, ys, xs]
                # Each output cell is a 12x12 window with stride 2 in the resized image.
                corners = torch.stack([xs, ys, xs, ys], 1).float() * 2
                corners[:, :2] += 1
                corners[:, 2:] += 12
                windows = torch.floor(corners / scale)
                keep = nms(windows, score, 0.5)
                shift = offsets[0, :, ys, xs].T
                found.append(torch.cat([windows, score[:, None], shift], 1)[keep])
            scale *= self.factor
            side *= self.factor
        if not found:
            return torch.zeros(0, 5)
        boxes = torch.cat(found)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        size = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
        refined = boxes[:, :4] + boxes[:, 5:9] * size
        return _square(torch.cat([refined, boxes[:, 4:5]], 1))

    def _refine(self, tensors: list[torch.Tensor], proposals: list[torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2: R-Net over the proposals of every image at once."""
        owners = torch.cat([torch.full((len(p),), i) for i, p in enumerate(proposals)])
        boxes = torch.cat(proposals)
        if not len(boxes):
            return boxes, owners
        offsets, probs = self.rnet(_crops(tensors, boxes, owners, 24))
        keep = probs[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], 1)
        offsets, owners = offsets[keep], owners[keep]
        pick = batched_nms(boxes[:, :4], boxes[:, 4], owners, 0.7)
        boxes = _apply_offsets(boxes[pick], offsets[pick])
        return _square(boxes), owners[pick]

    def _output(self, tensors: list[torch.Tensor], boxes: torch.Tensor,
                owners: torch.Tensor) -> list[list[FaceBox]]:
        """Stage 3: O-Net scores, final boxes and landmarks, per image."""
        faces: list[list[FaceBox]] = [[] for _ in tensors]
        if not len(boxes):
            return faces
        offsets, points, probs = self.onet(_crops(tensors, boxes, owners, 48))
        keep = probs[:, 1] > self.thresholds[2]
        boxes = torch.cat([boxes[keep, :4], probs[keep, 1:2]], 1)
        offsets, points, owners = offsets[keep], points[keep], owners[keep]
        size = boxes[:, 2:4] - boxes[:, 0:2] + 1
        xs = boxes[:, 0:1] + size[:, 0:1] * points[:, :5] - 1
        ys = boxes[:, 1:2] + size[:, 1:2] * points[:, 5:] - 1
        boxes = _apply_offsets(boxes, offsets)
        for index in range(len(tensors)):
            mine = torch.nonzero(owners == index, as_tuple=True)[0]
            height, width = tensors[index].shape[2:]
            for i in _nms_min(boxes[mine].numpy(), 0.7):
                row = mine[i]
                x0, y0, x1, y1, score = boxes[row].tolist()
                box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                marks = tuple(zip(xs[row].tolist(), ys[row].tolist(), strict=True))
                faces[index].append(FaceBox(box, float(score), marks))
        return faces

    @staticmethod
    def _rescale(face: FaceBox, shrink: float) -> FaceBox:
        if shrink == 1.0:
            return face
        box = tuple(v / shrink for v in face.box)
        marks = tuple((x / shrink, y / shrink) for x, y in face.landmarks)
        return FaceBox(box, face.score, marks)  # type: ignore[arg-type]


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the nets expect square crops)."""
    boxes = boxes.clone()
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    boxes[:, 0] += (width - side) / 2
    boxes[:, 1] += (height - side) / 2
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _apply_offsets(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    boxes = boxes.clone()
    size = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    boxes[:, :4] = boxes[:, :4] + offsets * size
    return boxes


def _crops(tensors: list[torch.Tensor], boxes: torch.Tensor, owners: torch.Tensor,
           size: int) -> torch.Tensor:
    """Normalised size x size crops of `boxes`; parts outside the image read as black."""
    crops = torch.empty(len(boxes), 3, size, size)
    for index, pixels in enumerate(tensors):
        mine = torch.nonzero(owners == index, as_tuple=True)[0]
        if len(mine):
            crops[mine] = roi_align(_normalise(pixels) + 1.0, [boxes[mine, :4]], output_size=size,
                                    sampling_ratio=2, aligned=True) - 1.0
    return crops


def _nms_min(boxes: np.ndarray, threshold: float) -> list[int]:
    """NMS by intersection over the smaller box, which drops boxes nested in a face."""
    if not len(boxes):
        return []
    x0, y0, x1, y1, score = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = list(np.argsort(-score))
    keep = []
    while order:
        best, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(int(best))
        if not len(rest):
            break
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        overlap = width * height / np.minimum(area[best], area[rest])
        order = list(rest[overlap <= threshold])
    return keep


def crop_face(image: np.ndarray, face: FaceBox, size: int = 160, margin: float = 0.2) -> np.ndarray:
    """A square RGB crop of `face` with `margin` (fraction of the box) around it, for later detectors."""
    from PIL import Image

    x0, y0, x1, y1 = face.box
    grow = margin * max(x1 - x0, y1 - y0) / 2
    height, width = image.shape[:2]
    left, top = int(max(0, x0 - grow)), int(max(0, y0 - grow))
    right, bottom = int(min(width, x1 + grow)), int(min(height, y1 + grow))
    patch = Image.fromarray(image[top:bottom, left:right])
    return np.asarray(patch.resize((size, size), Image.Resampling.BILINEAR))
