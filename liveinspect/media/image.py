"""Still images (covers, thumbnails, screenshots) as RGB uint8 arrays via Pillow."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from liveinspect.errors import MediaError
from liveinspect.media.source import resolve_source

DEFAULT_MAX_PIXELS = 40_000_000

# Formats a cover or screenshot comes in. Pillow can open more (EPS runs
# Ghostscript, PSD/ICO/... are rarely expected): refuse them up front.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")


def _image_input(source: str | os.PathLike | bytes) -> tuple[io.BytesIO | Path, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise MediaError("image data is empty (zero bytes)", source="<bytes>")
        return io.BytesIO(data), "<bytes>"
    resolved = resolve_source(source)
    if resolved.local_path is None:
        raise MediaError("load_image reads local files or bytes; download the URL first",
                         source=resolved.display)
    return resolved.local_path, resolved.display


def load_image(source: str | Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image to RGB uint8 (H, W, 3), with its EXIF orientation applied.

    The size is read from the header and checked against `max_pixels` before
    any pixel is decoded, so a small file that claims a huge canvas (a
    decompression bomb) is refused cheaply. Transparent pixels are composited
    onto white; animated images give their first frame. Raises MediaError
    naming the problem: empty, not an image / unsupported format, too large,
    truncated or corrupt.
    """
    fp, display = _image_input(source)
    try:
        with warnings.catch_warnings():
            # Our own limit applies; Pillow's global bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp, formats=IMAGE_FORMATS) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise MediaError(f"image header has zero size {width}x{height}", source=display)
                if width * height > max_pixels:
                    raise MediaError(f"image is too large: {width}x{height} = {width * height:,} "
                                     f"pixels exceeds the limit of {max_pixels:,}", source=display)
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except UnidentifiedImageError as error:
        raise MediaError("not a recognised image (supported: "
                         f"{', '.join(f.lower() for f in IMAGE_FORMATS)})", source=display) from error
    except Image.DecompressionBombError as error:
        raise MediaError(f"image is too large: {error}", source=display) from error
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports a short file as OSError("image file is truncated ...")
        # and broken chunks as SyntaxError/ValueError.
        problem = "truncated" if "truncated" in str(error).lower() else "corrupt"
        raise MediaError(f"image is {problem}: {error}", source=display) from error


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode.startswith("I;16"):
        # 16-bit greyscale: keep the top 8 bits; convert("RGB") would clip.
        grey = (np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()

