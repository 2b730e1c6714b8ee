"""QR payload rules (policy data: Policy.qr_rules, from qr_rules.yaml) and OpenCV decoding on frames."""

from __future__ import annotations

import numpy as np
import pytest
import qrcode

from liveinspect.errors import PolicyError
from liveinspect.models.qr import CodeReader
from liveinspect.policy import load_policy
from liveinspect.schema import FindingKind, Severity


def qr_image(payload: str, side: int = 180) -> np.ndarray:
    picture = qrcode.make(payload, border=2).convert("RGB").resize((side, side), 0)
    return np.asarray(picture)


def frame_with_code(payload: str, at=(1000, 400), size=(720, 1280)) -> np.ndarray:
    frame = np.full((*size, 3), (70, 90, 110), np.uint8)
    code = qr_image(payload)
    x, y = at
    frame[y:y + code.shape[0], x:x + code.shape[1]] = code
    return frame


@pytest.mark.parametrize(("payload", "rule", "kind"), [
    ("https://u.wechat.com/EBxYz12AbCd", "wechat_contact", FindingKind.offplatform_lure),
    ("weixin://dl/chat?abc", "wechat_contact", FindingKind.offplatform_lure),
    ("wxp://f2f0abcdEFGH", "wechat_pay", FindingKind.offplatform_lure),
    ("https://qm.qq.com/cgi-bin/qm/qr?k=abc", "qq_contact", FindingKind.offplatform_lure),
    ("HTTPS://QR.ALIPAY.COM/fkx12345", "alipay_pay", FindingKind.offplatform_lure),
    ("tel:+8613812345678", "phone_number", FindingKind.offplatform_lure),
    ("客服电话 138-1234-5678", "phone_number", FindingKind.offplatform_lure),
    ("https://item.taobao.com/item.htm?id=1", "external_shop", FindingKind.offplatform_lure),
    ("https://shop.m.jd.com/?shopId=9", "external_shop", FindingKind.offplatform_lure),
    ("https://v.douyin.com/iRNBho6u/", "in_platform", FindingKind.qr_code),
    ("https://example.org/landing", "other_link", FindingKind.offplatform_lure),
])
def test_payload_rules(payload, rule, kind):
    verdict = load_policy().qr_rules.classify(payload)
    assert (verdict.rule, verdict.kind) == (rule, kind)


def test_lookalike_hosts_do_not_match_and_plain_text_is_unmatched():
    rules = load_policy().qr_rules
    assert rules.classify("https://notdouyin.com.evil.cn/x").rule == "other_link"
    assert rules.classify("https://u.wechat.com.evil.cn/x").rule == "other_link"
    plain = rules.classify("SN-2024-000123")
    assert plain.rule is None and plain.kind is FindingKind.qr_code and plain.severity is Severity.low
    assert rules.classify("https://v.douyin.com/x").severity is Severity.info


def test_invalid_rules_files_are_reported(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {id: x, kind: false_price, label: {zh: a, en: b}, score: 0.5}\n")
    with pytest.raises(PolicyError, match="offplatform_lure or qr_code"):
        load_policy(qr_rules=bad)
    bad.write_text("rules:\n  - {id: x, kind: qr_code, label: {zh: a, en: b}, score: 0.5, patterns: ['(']}\n")
    with pytest.raises(PolicyError, match="regular expression"):
        load_policy(qr_rules=bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(qr_rules=tmp_path / "absent.yaml")


def test_reader_decodes_a_wechat_code_with_its_box():
    codes = CodeReader().read(frame_with_code("https://u.wechat.com/EBxYz12AbCd", at=(1000, 400)))
    assert len(codes) == 1
    code = codes[0]
    assert code.payload == "https://u.wechat.com/EBxYz12AbCd" and code.symbology == "QR_CODE"
    x0, y0, x1, y1 = code.box
    assert 990 <= x0 <= 1020 and 390 <= y0 <= 420 and 1160 <= x1 <= 1190 and 560 <= y1 <= 590


def test_reader_finds_nothing_on_a_plain_frame():
    assert CodeReader().read(np.full((360, 640, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("angle", [0, 15, 30])
def test_reader_handles_small_rotated_codes(angle):
    from PIL import Image

    code = np.asarray(Image.fromarray(qr_image("https://qm.qq.com/q/AbC", side=120))
                      .rotate(angle, expand=True, fillcolor=(70, 90, 110)))
    frame = np.full((720, 1280, 3), (70, 90, 110), np.uint8)
    frame[300:300 + code.shape[0], 900:900 + code.shape[1]] = code
    assert [c.payload for c in CodeReader().read(frame)] == ["https://qm.qq.com/q/AbC"]
