"""Normalization: width, script, case, separators, emoji, homophones, and the map back."""

from __future__ import annotations

import pytest

from liveinspect.text.normalize import Normalizer, normalize


def _back(text: str, fragment: str) -> str:
    """The original text behind the first occurrence of `fragment` in the normalized text."""
    normalized = normalize(text)
    start = normalized.text.index(fragment)
    s, e = normalized.original_span(start, start + len(fragment))
    return text[s:e]


@pytest.mark.parametrize(("raw", "expected"), [
    ("ＡＢＣ１２３", "abc123"),  # full width -> half width, lower case
    ("全網最低價", "全网最低价"),  # Traditional -> Simplified
    ("請加我微信", "请加我微信"),
    ("BEST Price", "best price"),
    ("加 V 信", "加微信"),
    ("加-v-x", "加微信"),
    ("加.微.信", "加微信"),
    ("加\u200b微\u200d信", "加微信"),  # zero-width characters
    ("加❤微❤信", "加微信"),  # emoji decoration
    ("薇❤", "薇"),
    ("薇信", "微信"),
    ("威信", "微信"),
    ("V信", "微信"),
    ("ＶＸ", "微信"),
    ("wx", "微信"),
    ("扣扣", "qq"),
    ("+v", "加v"),
    ("伽我微信", "加我微信"),
    ("1 3 8 0 0 1 3 8 0 0 0", "13800138000"),
])
def test_normalize_undoes_evasions(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("add me on WeChat", "add me on wechat"),  # spaces between words stay
    ("No. 1", "no. 1"),
    ("9.9元", "9.9元"),  # decimals are not separators
    ("138 1234 5678", "138 1234 5678"),
    ("100% 有效", "100%有效"),  # meaningful symbols stay
    ("瑜伽课", "瑜伽课"),  # 伽 is only 加 before a contact
    ("vxlan", "vxlan"),  # vx inside a word is not WeChat
    ("最近", "最近"),
])
def test_normalize_keeps_what_carries_meaning(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_emoji_standing_for_words_are_replaced() -> None:
    assert normalize("🚬 小烟").text == "烟小烟"
    assert normalize("🐧号").text == "qq号"


def test_offset_map_points_back_to_original() -> None:
    text = "朋友們，請加 V 信：abc_123 哦"
    assert _back(text, "加微信") == "加 V 信"
    assert _back(text, "abc_123") == "abc_123"
    assert _back(text, "请") == "請"
    full_width = "全场ＴＯＰ１好物"
    assert _back(full_width, "top1") == "ＴＯＰ１"


def test_offset_map_of_expanding_characters() -> None:
    text = "重量１㎏哦"  # ㎏ -> kg under NFKC: two characters from one
    normalized = normalize(text)
    assert normalized.text == "重量1kg哦"
    start = normalized.text.index("kg")
    assert normalized.original_span(start, start + 2) == (3, 4)
    assert normalized.original_span(start + 1, start + 2) == (3, 4)


def test_offset_map_is_monotone_and_inside_original() -> None:
    text = "🔥全網第一！！加 V❤X：lucky_888，原價９９９現價９９～"
    normalized = normalize(text)
    assert len(normalized.starts) == len(normalized.text) == len(normalized.ends)
    assert list(normalized.starts) == sorted(normalized.starts)
    assert all(0 <= s < e <= len(text) for s, e in zip(normalized.starts, normalized.ends,
                                                           strict=True))


def test_empty_and_blank_text() -> None:
    assert normalize("").text == ""
    assert normalize("   ").text == ""
    assert normalize("").original_span(0, 0) == (0, 0)
    with pytest.raises(ValueError):
        normalize("abc").original_span(2, 9)


def test_plain_normalizer_without_policy_variants() -> None:
    plain = Normalizer()
    assert plain("薇信").text == "薇信"  # no variants configured
    assert plain("ＡＢ").text == "ab"
    custom = Normalizer(emoji={"🍃": "叶子"}, variants=[("草", "大麻")], simplify=False)
    assert custom("🍃 草").text == "叶子大麻"
    assert custom("體").text == "體"  # simplification off
