"""Perceptual hashes, so a static banner is read once and not once per sampled frame.

`dhash` (difference hash) compares neighbouring pixels of a small grey
thumbnail; `phash` keeps the signs of the lowest DCT frequencies. Both are 64
bits by default and tolerate compression noise and small shifts, which exact
hashes do not. Implemented with numpy and Pillow only, so the edge runtime can
use them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from liveinspect.errors import LiveInspectError


def _grey_thumbnail(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise LiveInspectError(f"expected an image array (H, W[, C]), got {getattr(image, 'shape', image)}")
    picture = Image.fromarray(image.astype(np.uint8, copy=False)).convert("L")
    return np.asarray(picture.resize((width, height), Image.Resampling.BOX), dtype=np.float32)


def dhash(image: np.ndarray, size: int = 8) -> int:
    """Difference hash: bit set where a pixel is brighter than its right neighbour."""
    grey = _grey_thumbnail(image, size + 1, size)
    bits = (grey[:, 1:] > grey[:, :-1]).ravel()
    return _pack(bits)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def phash(image: np.ndarray, size: int = 8, oversample: int = 4) -> int:
    """DCT hash: bit set where a low-frequency coefficient is above their median."""
    n = size * oversample
    grey = _grey_thumbnail(image, n, n)
    dct = _dct_matrix(n)
    low = (dct @ grey @ dct.T)[:size, :size].ravel()
    # The DC term only says how bright the image is, not what it shows.
    bits = low > np.median(low[1:])
    return _pack(bits)


def _pack(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass
class NearDuplicateFilter:
    """Says whether an image looks like the last one accepted.

    Compares against the last *accepted* image rather than the previous one,
    so a slow fade cannot creep past the threshold one small step at a time.
    `max_distance` is in bits out of 64; both hashes must agree, which keeps
    two different banners on the same background apart.
    """

    max_distance: int = 6
    _last: tuple[int, int] | None = None

    def is_duplicate(self, image: np.ndarray) -> bool:
        hashes = (dhash(image), phash(image))
        if self._last is not None and all(
                hamming(a, b) <= self.max_distance for a, b in zip(hashes, self._last, strict=True)):
            return True
        self._last = hashes
        return False

    def reset(self) -> None:
        self._last = None
