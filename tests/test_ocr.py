"""OCR with RapidOCR's shipped PP-OCR models on banners rendered with a CJK font."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from liveinspect.errors import LiveInspectError
from liveinspect.models.ocr import OcrEngine

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def render_banner(lines: list[tuple[str, tuple[int, int]]], size=(960, 540),
                  background=(25, 50, 80), font_size=44) -> np.ndarray:
    """Text drawn at the given positions; fails (not skips) without the CJK font."""
    assert CJK_FONT.is_file(), f"CJK font missing: install Debian fonts-noto-cjk ({CJK_FONT})"
    font = ImageFont.truetype(str(CJK_FONT), font_size)
    picture = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(picture)
    for text, position in lines:
        draw.text(position, text, font=font, fill=(255, 240, 0))
    return np.asarray(picture)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine(max_threads=2)


def _inside(box, x0, y0, x1, y1) -> bool:
    return box[0] >= x0 and box[1] >= y0 and box[2] <= x1 and box[3] <= y1


def test_reads_chinese_and_english_banners_with_boxes(engine):
    image = render_banner([("全网最低价 加微信领券", (40, 60)), ("Limited offer today only", (40, 360))])
    lines = engine.read(image)
    texts = [line.text for line in lines]
    assert texts[0].replace(" ", "") == "全网最低价加微信领券"
    assert texts[1] == "Limited offer today only"
    assert _inside(lines[0].box, 20, 40, 560, 140)  # the Chinese line, drawn at (40, 60)
    assert _inside(lines[1].box, 20, 340, 620, 440)
    assert all(line.score > 0.8 for line in lines)


def test_batch_matches_single_reads_and_keeps_empty_images(engine):
    first = render_banner([("原价999元 直播间只要99元", (30, 200))])
    second = render_banner([("Scan to add me on WeChat", (30, 100))], size=(640, 360))
    blank = np.zeros((120, 200, 3), np.uint8)
    batch = engine.read_batch([first, blank, second])
    assert [len(found) for found in batch] == [1, 0, 1]
    assert batch[0] == engine.read(first)
    assert batch[2][0].text == "Scan to add me on WeChat"
    assert "99" in batch[0][0].text and "直播间" in batch[0][0].text


def test_rejects_images_that_are_not_rgb_uint8(engine):
    with pytest.raises(LiveInspectError, match="RGB uint8"):
        engine.read(np.zeros((50, 50), np.uint8))
    with pytest.raises(LiveInspectError):
        engine.read(np.zeros((50, 50, 3), np.float32))


def test_decoration_without_letters_is_not_text(engine):
    image = render_banner([("★★★ ***", (40, 60)), ("直播中 LIVE", (40, 300))])
    assert [line.text.replace(" ", "") for line in engine.read(image)] == ["直播中LIVE"]
