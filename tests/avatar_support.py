"""What the avatar tests share: a stand-in for the CLIP image tower."""

from __future__ import annotations

import numpy as np


class FakeTower:
    """Embeds an image as the unit vector of its mean colour (padded): enough to tell crops apart."""

    def embed(self, images):
        out = np.zeros((len(images), 512), np.float32)
        for i, image in enumerate(images):
            out[i, :3] = np.asarray(image, np.float32).reshape(-1, 3).mean(0) / 255
            out[i, 3] = 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)
