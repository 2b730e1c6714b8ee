"""load_image: RGB uint8, EXIF orientation, and refusals that name the problem."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from media_factory import make_image, make_png_header, truncate
from PIL import Image

from liveinspect.errors import MediaError
from liveinspect.media import load_image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _close(pixel, colour, tolerance=12):
    return np.abs(pixel.astype(int) - colour).max() <= tolerance


@pytest.mark.parametrize("name", ["bars.jpg", "bars.png", "bars.webp", "bars.bmp", "bars.gif"])
def test_formats_decode_to_rgb_uint8(tmp_path, name):
    path = make_image(tmp_path / name, size=(64, 48))
    image = load_image(path)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    # Colour bars left to right: red, green, blue, white (sampled mid-bar).
    for k, colour in enumerate((RED, GREEN, BLUE, WHITE)):
        assert _close(image[24, 8 + 16 * k], colour), (k, image[24, 8 + 16 * k])


def test_bytes_and_string_paths_give_the_same_pixels(tmp_path):
    path = make_image(tmp_path / "封面 cover.png", size=(40, 20))
    from_path = load_image(path)
    np.testing.assert_array_equal(load_image(str(path)), from_path)
    np.testing.assert_array_equal(load_image(path.read_bytes()), from_path)


def test_exif_orientation_is_applied(tmp_path):
    upright = load_image(make_image(tmp_path / "plain.jpg", size=(64, 48)))
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise.
    turned = load_image(make_image(tmp_path / "rot6.jpg", size=(64, 48), exif_orientation=6))
    assert turned.shape == (64, 48, 3)
    assert _close(turned[8, 24], RED) and _close(turned[-8, 24], WHITE)
    np.testing.assert_allclose(turned.astype(int), np.rot90(upright, k=-1).astype(int), atol=12)
    # Orientation 3: upside down, so the bars run white..red.
    flipped = load_image(make_image(tmp_path / "rot3.jpg", size=(64, 48), exif_orientation=3))
    assert _close(flipped[24, 4], WHITE) and _close(flipped[24, -4], RED)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)          # opaque red, then fully transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    image = load_image(path)
    assert _close(image[5, 2], RED, 0) and _close(image[5, 7], WHITE, 0)


def test_huge_dimensions_are_refused_from_the_header(tmp_path):
    # 10000 x 5000 = 50 megapixels claimed by a 100-byte file.
    bomb = make_png_header(tmp_path / "bomb.png", 10_000, 5_000)
    assert bomb.stat().st_size < 200
    tracemalloc.start()
    try:
        with pytest.raises(MediaError, match=r"too large: 10000x5000"):
            load_image(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000   # no pixel buffer was allocated
    # The limit is the caller's: raise it and the (broken) data is what fails.
    with pytest.raises(MediaError, match="truncated|corrupt"):
        load_image(bomb, max_pixels=60_000_000)
    # Far beyond any limit (Pillow's own bomb guard fires first).
    giant = make_png_header(tmp_path / "giant.png", 100_000, 100_000)
    with pytest.raises(MediaError, match="too large"):
        load_image(giant)


def test_zero_length_and_wrong_type(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        load_image(empty)
    with pytest.raises(MediaError, match="empty"):
        load_image(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    with pytest.raises(MediaError, match="not a recognised image"):
        load_image(text)


def test_unsupported_format_is_refused(tmp_path):
    # Pillow reads ICO, but covers are not icons: refused, not decoded.
    path = tmp_path / "icon.ico"
    Image.new("RGB", (16, 16), RED).save(path)
    with pytest.raises(MediaError, match="not a recognised image"):
        load_image(path)


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated_images(tmp_path, name):
    path = make_image(tmp_path / name, size=(300, 200))
    truncate(path, 0.5)
    with pytest.raises(MediaError, match="truncated"):
        load_image(path)


def test_urls_and_foreign_schemes_are_not_fetched(tmp_path):
    with pytest.raises(MediaError, match="download the URL first"):
        load_image("https://example.com/cover.jpg")
    with pytest.raises(MediaError, match="unsupported URL scheme 'data'"):
        load_image("data:image/png;base64,iVBORw0KGgo=")
    with pytest.raises(MediaError, match="not found"):
        load_image(tmp_path / "missing.png")
