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


def tile_means(image: np.ndarray, grid: int = 8) -> np.ndarray:
    """(grid, grid) mean grey level of each tile: catches small local changes hashes miss."""
    return _grey_thumbnail(image, grid, grid)


@dataclass
class NearDuplicateFilter:
    """Says whether an image looks like the last one accepted.

    Compares against the last *accepted* image rather than the previous one,
    so a slow fade cannot creep past the threshold one small step at a time.
    An image is a duplicate only when both hashes are within `max_distance`
    bits (of 64) AND no tile of an 8x8 grid changed its mean grey level by
    more than `max_tile_change`: a whole-frame hash barely moves when a QR
    code or a caption appears in one corner, the tile check does.
    """

    max_distance: int = 6
    max_tile_change: float = 10.0
    _last: tuple[int, int, np.ndarray] | None = None

    def is_duplicate(self, image: np.ndarray) -> bool:
        current = (dhash(image), phash(image), tile_means(image))
        if self._last is not None:
            d_old, p_old, tiles_old = self._last
            if hamming(current[0], d_old) <= self.max_distance \
                    and hamming(current[1], p_old) <= self.max_distance \
                    and float(np.abs(current[2] - tiles_old).max()) <= self.max_tile_change:
                return True
        self._last = current
        return False

    def reset(self) -> None:
        self._last = None
