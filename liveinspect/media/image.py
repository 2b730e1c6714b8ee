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
# Picture shapes a model may be given. Detectors scale the short side up to a
# fixed size (PP-OCR: 736 px), so memory grows with the aspect ratio: a
# 1280x2 cover became a 24 GB array. At 1:20 OCR already peaks at 1.6 GB;
# real covers, frames and banners stay well inside 1:16. The minimum side
# keeps out slivers that hold nothing to read (the ratio bounds the memory).
MAX_ASPECT_RATIO = 16.0
MIN_SIDE = 8


def geometry_problem(width: int, height: int, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | None:
    """Why a width x height picture may not reach a model, or None when it may.

    The one guard for covers, image sources, decoded video frames and any
    array handed to a model (OCR, CLIP, face and exposure detectors).
    """
    if width <= 0 or height <= 0:
        return f"picture has zero size {width}x{height}"
    if width * height > max_pixels:
        return (f"picture is too large: {width}x{height} = {width * height:,} pixels exceeds "
                f"the limit of {max_pixels:,}")
    if min(width, height) < MIN_SIDE:
        return f"picture {width}x{height} is thinner than {MIN_SIDE} px, too thin to inspect"
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        return (f"picture {width}x{height} has an aspect ratio beyond 1:{MAX_ASPECT_RATIO:g}; "
                "refused (models would scale it into a huge array)")
    return None


def check_geometry(width: int, height: int, *, source: str | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise MediaError naming the problem when `geometry_problem` finds one."""
    problem = geometry_problem(width, height, max_pixels=max_pixels)
    if problem:
        raise MediaError(problem, source=source)


def check_array(image: object, *, source: str | None = None) -> None:
    """Check an RGB array's geometry before a model sees it (arrays may come from anywhere)."""
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) < 2:
        raise MediaError(f"expected an image array (H, W, 3), got shape {shape}", source=source)
    check_geometry(int(shape[1]), int(shape[0]), source=source)

# Formats a cover or screenshot comes in. Pillow can open more (EPS runs
# Ghostscript, PSD/ICO/... are rarely expected): refuse them up front.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")


def check_image_header(path: Path, display: str) -> None:
    """Apply the geometry guard to an image file from its header alone (no pixel decoded).

    Used when an image is the SOURCE of a scan: FFmpeg would allocate the
    full canvas a header claims before finding the data is missing.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:
        raise MediaError(f"image is too large: {error}", source=display) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return   # not something Pillow reads; FFmpeg's own dimensions are checked later
    check_geometry(width, height, source=display)


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
    decompression bomb) is refused cheaply, and so is a shape no model should
    see (`geometry_problem`: thinner than 8 px, beyond 1:16). Transparent pixels are composited
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
                check_geometry(width, height, source=display, max_pixels=max_pixels)
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

