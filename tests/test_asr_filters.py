"""Hallucination blocklist, repetition cut-off, Simplified Chinese and WER — no model needed."""

from __future__ import annotations

import torch
from asr_wer import edit_distance, word_error_rate

from liveinspect.models.whisper.repetition import cut_repetition
from liveinspect.models.whisper.torch_runner import RepetitionCutoff
from liveinspect.pipelines.asr.filters import PhraseBlocklist, to_simplified


def test_blocklist_drops_stock_phrases_only():
    blocklist = PhraseBlocklist()
    for text in ("字幕由Amara.org社群提供", "字幕由 Amara.org 社群提供。", "Thanks for watching!",
                 "thank you for watching.", "請不吝點贊訂閱轉發打賞支持明鏡與點點欄目",
                 "Thanks for watching! Please subscribe to my channel."):
        assert blocklist.is_hallucination(text), text
    for text in ("Thanks for watching the demo of this blender, it costs 99 yuan.",
                 "这款面霜是全网最低价", "Please subscribe", "", "Amara"):
        assert not blocklist.is_hallucination(text), text


def test_sign_offs_backed_by_voice_activity_are_kept_but_credits_never():
    blocklist = PhraseBlocklist()
    # A host really saying goodbye: voice activity over the sentence is high.
    assert not blocklist.is_hallucination("Thank you for watching.", voice=0.95)
    assert blocklist.is_hallucination("Thank you for watching.", voice=0.2)
    assert blocklist.is_hallucination("字幕由Amara.org社群提供", voice=0.95)


def test_cut_repetition_collapses_loops_and_keeps_normal_text():
    prefix = [10, 11, 12, 13]
    loop = [7, 8, 9]
    tokens = prefix + loop * 9
    assert cut_repetition(tokens) == prefix + loop
    single = prefix + [5] * 20
    assert cut_repetition(single) == prefix + [5]
    # A phrase said three times is speech, not a loop; neither is a short run of one token.
    normal = prefix + loop * 3 + [1, 2]
    assert cut_repetition(normal) == normal
    assert cut_repetition(prefix + [5] * 6) == prefix + [5] * 6


def test_repetition_cutoff_forces_end_of_text_only_on_looping_rows():
    eot, begin = 99, 2
    looping = [1, 2] + [7, 8, 9, 10] * 5
    fine = [1, 2] + list(range(20, 40))
    tokens = torch.tensor([looping, fine])
    logits = torch.zeros(2, 100)
    RepetitionCutoff(eot, begin).apply(logits, tokens)
    assert logits[0].argmax() == eot and torch.isinf(logits[0, :eot]).all()
    assert torch.equal(logits[1], torch.zeros(100))


def test_simplified_conversion():
    assert to_simplified("這款產品是國家級的，請點讚訂閱") == "这款产品是国家级的，请点赞订阅"
    assert to_simplified("Only English here.") == "Only English here."


def test_word_error_rate():
    assert edit_distance(["a", "b", "c"], ["a", "c", "d"]) == 2
    assert word_error_rate("And so, my fellow Americans!", "and so my fellow americans") == 0.0
    assert word_error_rate("the cat sat down", "the hat sat") == 0.5
    assert word_error_rate("全網最低價", "全网最低") == 0.2  # Chinese scores characters
    assert word_error_rate("", "") == 0.0
