"""Zero-shot image classification against prompt sets kept as data.

Each class is described by several prompts (zh and en, several phrasings);
its text embedding is the renormalised mean of theirs, as in the CLIP paper's
prompt ensembling. Scores are a softmax over all classes, so a prompt set
should include harmless background classes: a frame that looks like none of
the risky classes then lands on a background class instead of being forced
onto the nearest risky one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.models.clip.model import ClipModel


def class_embeddings(clip: ClipModel, prompts: Mapping[str, Sequence[str]]) -> np.ndarray:
    """(C, D) unit vectors, one per class, in the order of `prompts`."""
    empty = [label for label, texts in prompts.items() if not texts]
    if not prompts or empty:
        raise LiveInspectError(f"every class needs at least one prompt; empty: {empty or 'all'}")
    rows = []
    for texts in prompts.values():
        mean = clip.embed_texts(list(texts)).mean(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    return np.stack(rows).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class ZeroShotClassifier:
    """Class probabilities for image embeddings; text embeddings are computed once."""

    def __init__(self, clip: ClipModel, prompts: Mapping[str, Sequence[str]]) -> None:
        self.labels = list(prompts)
        self.class_embeddings = class_embeddings(clip, prompts)
        self.logit_scale = clip.logit_scale

    def probabilities(self, image_embeddings: np.ndarray) -> np.ndarray:
        """(N, C) probabilities over `labels` for (N, D) unit image embeddings."""
        if image_embeddings.ndim != 2 or image_embeddings.shape[1] != self.class_embeddings.shape[1]:
            raise LiveInspectError(f"image embeddings of shape {image_embeddings.shape} do not match "
                                   f"the text embeddings' width {self.class_embeddings.shape[1]}")
        return softmax(self.logit_scale * image_embeddings @ self.class_embeddings.T)

    def top(self, image_embeddings: np.ndarray) -> list[tuple[str, float]]:
        probabilities = self.probabilities(image_embeddings)
        best = probabilities.argmax(axis=1)
        return [(self.labels[i], float(p[i])) for i, p in zip(best, probabilities, strict=True)]
