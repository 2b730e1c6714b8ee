"""Lexicon matching: positives, near misses, evasions, spans in the original text."""

from __future__ import annotations

import pytest

from liveinspect.policy import load_policy
from liveinspect.schema import FindingKind
from liveinspect.text.aho_corasick import AhoCorasick
from liveinspect.text.lexicon import LexiconMatcher, collapse_overlaps

K = FindingKind


@pytest.fixture(scope="module")
def matcher() -> LexiconMatcher:
    return LexiconMatcher.from_policy(load_policy())


def kinds(matcher: LexiconMatcher, text: str) -> set[FindingKind]:
    return {m.kind for m in matcher.match(text)}


def test_aho_corasick_finds_overlapping_occurrences() -> None:
    automaton = AhoCorasick(["he", "she", "his", "hers", "最低", "全网最低价"])
    found = sorted(automaton.find_all("ushers 全网最低价"))
    assert found == [(1, 4, "she"), (2, 4, "he"), (2, 6, "hers"), (7, 12, "全网最低价"),
                     (9, 11, "最低")]
    assert list(AhoCorasick([]).find_all("abc")) == []


@pytest.mark.parametrize(("text", "kind"), [
    ("这是全网最好的面霜", K.absolute_term),
    ("国家级配方", K.absolute_term),
    ("我们家销量第一", K.absolute_term),
    ("全场TOP1的好物", K.absolute_term),
    ("品质ＮＯ.１", K.absolute_term),
    ("100%有效", K.absolute_term),
    ("This is the best serum", K.absolute_term),
    ("用了能治愈失眠", K.false_efficacy),
    ("三天祛斑不反弹", K.false_efficacy),
    ("7天瘦10斤", K.false_efficacy),
    ("这个茶能降血压", K.false_efficacy),
    ("it cures acne", K.false_efficacy),
    ("保证有效，无效退款", K.misleading_claim),
    ("跟着买稳赚不赔", K.misleading_claim),
    ("guaranteed results", K.misleading_claim),
    ("原价999现价99", K.false_price),
    ("原價：¥999元，直播价 199", K.false_price),
    ("最后3件了", K.false_price),
    ("今天最后一天", K.false_price),
    ("was $99, now only $19", K.false_price),
    ("已售10万件", K.fake_data),
    ("百万粉丝都在用", K.fake_data),
    ("300万粉丝见证", K.fake_data),
    ("加我微信", K.offplatform_lure),
    ("加 V 信聊", K.offplatform_lure),
    ("+vx：lucky_888", K.offplatform_lure),
    ("薇❤：abc12345", K.offplatform_lure),
    ("私聊我发链接", K.offplatform_lure),
    ("电话 138-0013-8000", K.offplatform_lure),
    ("打幺三八 零零幺三 八零零零", K.offplatform_lure),  # ASR writes digits as Han numerals
    ("add me on w e c h a t", K.offplatform_lure),
    ("扣扣 123456789", K.offplatform_lure),
    ("复制￥AbC123xyZ9￥打开淘宝", K.offplatform_lure),
    ("just add me on WeChat", K.offplatform_lure),
    ("DM me for the price", K.offplatform_lure),
])
def test_claims_are_found(matcher: LexiconMatcher, text: str, kind: FindingKind) -> None:
    assert kind in kinds(matcher, text)


@pytest.mark.parametrize(("text", "kind"), [
    ("第一次下单的朋友", K.absolute_term),
    ("第一天到货", K.absolute_term),
    ("第一步先洗脸", K.absolute_term),
    ("第一个链接", K.absolute_term),
    ("最近很多人问", K.absolute_term),
    ("你最好先试用一下", K.absolute_term),
    ("100%纯棉的T恤", K.absolute_term),
    ("best regards", K.absolute_term),
    ("he bestowed it", K.absolute_term),
    ("link number one is the cleanser", K.absolute_term),
    ("这款面霜很滋润", K.false_efficacy),
    ("产生发热的感觉", K.false_efficacy),
    ("secure the lid", K.false_efficacy),
    ("价格9.9元包邮", K.false_price),
    ("加vip会员", K.offplatform_lure),
    ("他很有威望", K.offplatform_lure),
    ("订单号 2021051234567890", K.offplatform_lure),
    ("瑜伽我每天练", K.offplatform_lure),
])
def test_near_misses_do_not_match(matcher: LexiconMatcher, text: str, kind: FindingKind) -> None:
    assert kind not in kinds(matcher, text)


COMPLIANT = """这款面霜很滋润，适合干皮
今天给大家介绍一款保温杯
第一次下单的朋友记得领券
价格是99元，包邮到家
这个颜色是象牙白，很百搭
第一次来直播间的宝宝可以先点关注
我最近在用这个精华，感觉皮肤状态不错
拍下之后四十八小时内发货，下单时填写手机号
这个是100%纯棉的，穿着很舒服
你们最好先看一下尺码表再下单
第一款是这个连衣裙，第二款是衬衫
这个按摩枪力度有五档，还有宠物狗配件
万能充和万能胶今天都有
用了这个面膜，人生开挂
这款果汁是纯原味的，退款原单返回
订单的原单号在这里
珍爱生命，远离毒品
这款香水是烟草味的木质调
Thanks for watching, see you tomorrow
This dress is made of cotton and fits well
A tobacco vanilla perfume with a warm finish
The gel needs a short cure time under the lamp
Best wishes to everyone and best regards""".splitlines()


@pytest.mark.parametrize("text", COMPLIANT)
def test_compliant_sentences_have_no_matches(matcher: LexiconMatcher, text: str) -> None:
    assert matcher.match(text) == []


def test_spans_point_into_the_original_text(matcher: LexiconMatcher) -> None:
    text = "朋友們～全網最低價！請加 V 信：lucky_888"
    found = {m.kind: text[m.start:m.end] for m in collapse_overlaps(matcher.match(text))}
    assert found[K.false_price] == "全網最低價"
    assert found[K.offplatform_lure] == "加 V 信：lucky_888"


def test_english_terms_need_word_boundaries(matcher: LexiconMatcher) -> None:
    assert kinds(matcher, "vaporware") == set()
    assert K.negative_list_product in kinds(matcher, "vape pens")
    assert kinds(matcher, "cigar") == {K.negative_list_product}
    assert kinds(matcher, "cigarbox") == set()


def test_overlapping_terms_collapse_per_kind(matcher: LexiconMatcher) -> None:
    text = "全网最低价"
    raw = [m for m in matcher.match(text) if m.kind is K.absolute_term]
    assert len(raw) >= 2  # 全网最低 and 全网最低价 overlap
    collapsed = collapse_overlaps(matcher.match(text))
    assert sorted(m.kind.value for m in collapsed) == ["absolute_term", "false_price"]
    absolute = next(m for m in collapsed if m.kind is K.absolute_term)
    assert (absolute.start, absolute.end) == (0, 5)


# One plain keyword and one evasion (as sellers write them) per negative-list category.
NEGATIVE_LIST_CASES = {
    "firearms": ("出售仿真枪", "玩具枪配件到了"),
    "explosives_fireworks": ("过年的烟花爆竹", "小朋友爱玩的摔炮"),
    "controlled_knives": ("军用匕首", "女生必备防狼神器"),
    "narcotics": ("冰毒", "今晚一起溜 冰"),
    "prescription_drugs": ("处方药直接发", "小蓝片男人必备"),
    "ecig_tobacco": ("电子烟口味多", "小烟到货了"),
    "protected_wildlife": ("象牙手镯", "老象料雕件"),
    "gambling_devices": ("老虎机", "打牌必备透视眼镜"),
    "counterfeit_documents": ("假证加急", "影视道具钞"),
    "covert_surveillance": ("针孔摄像头", "充电器摄像头"),
    "hacking_accounts": ("实名卡出售", "游戏开挂"),
    "human_organs_blood": ("代孕包成功", "招代妈"),
    "professional_medical_devices": ("水光针在家打", "瘦脸水"),
    "pornography": ("色情视频", "老司机资源"),
    "adult_products": ("飞机杯", "男士解压神器"),
    "counterfeit_goods": ("高仿包包", "纯原鞋子"),
}


def test_every_category_has_a_case() -> None:
    assert set(NEGATIVE_LIST_CASES) == {c.id for c in load_policy().categories}


@pytest.mark.parametrize("category", sorted(NEGATIVE_LIST_CASES))
def test_negative_list_keyword_and_evasion(matcher: LexiconMatcher, category: str) -> None:
    keyword_text, evasion_text = NEGATIVE_LIST_CASES[category]
    for text, role in ((keyword_text, "keyword"), (evasion_text, "evasion")):
        matches = [m for m in matcher.match(text) if m.category == category]
        assert matches, f"{category}: nothing in {text!r}"
        assert role in {m.role for m in matches}, (text, matches)
        assert all(m.kind is K.negative_list_product for m in matches)


@pytest.mark.parametrize("text", ["电 子 烟", "電子煙", "ＶＡＰＥ", "🔫 枪支", "仿.真.枪"])
def test_negative_list_survives_disguises(matcher: LexiconMatcher, text: str) -> None:
    assert K.negative_list_product in kinds(matcher, text)


@pytest.mark.parametrize("text", ["医用雾化器", "象牙白的衬衫", "按摩枪", "ivory white", "水枪玩具",
                                  "溜冰场见", "羊胎盘精华", "slim cigarette trousers"])
def test_negative_list_near_misses(matcher: LexiconMatcher, text: str) -> None:
    assert K.negative_list_product not in kinds(matcher, text)


def _embedded(term: str) -> str:
    # Latin ends get spaces so the word boundary holds; Han terms sit inside a sentence.
    left = " " if term[0].isascii() and term[0].isalnum() else ""
    right = " " if term[-1].isascii() and term[-1].isalnum() else ""
    return f"我说{left}{term}{right}了"


def test_every_shipped_term_matches_itself(matcher: LexiconMatcher) -> None:
    """A term that its own normalization, exclusions or boundaries make unmatchable is a data bug."""
    policy = load_policy()
    failures = []
    for entry in matcher.entries:
        if entry.regex is not None:
            continue
        text = _embedded(entry.term)
        hits = [m for m in matcher.match(text) if m.kind is entry.kind and m.term == entry.term]
        if not hits:
            failures.append((entry.source, entry.term))
    assert failures == []
    assert len(matcher.entries) > 500
    assert {e.category for e in matcher.entries if e.category} == {c.id for c in policy.categories}
