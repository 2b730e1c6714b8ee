"""Issue 9, text rows: bounded regexes (3), quoted windows (4), Hangul fillers (11), the `text`
command's input and output (14)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from liveinspect.cli.text import BATCH_LINES, run_text_command
from liveinspect.errors import PolicyError
from liveinspect.pipelines.text import CLASSIFIER_LABELS, TextAnalyzer
from liveinspect.policy import load_policy
from liveinspect.schema import TextSpan
from liveinspect.text import LexiconMatcher
from liveinspect.policy import regex as safe_regex
from liveinspect.policy.regex import PatternBudgetError, compile_bounded


@pytest.fixture(scope="module")
def matcher():
    return LexiconMatcher.from_policy(load_policy())


# -- row 3 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spaces", [2_000, 4_000])
def test_shipped_was_now_pattern_is_not_a_redos(matcher, spaces):
    started = time.monotonic()
    matcher.match("原价123" + " " * spaces + "abc")
    assert time.monotonic() - started < 2.0   # `re`: 20 s at 2,000 spaces, > 120 s at 4,000
    assert any(m.term.endswith("was-now") for m in matcher.match("原价199元 现价99"))


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"(x+x+)+y"])
def test_catastrophic_user_patterns_are_refused_at_load(pattern):
    with pytest.raises(PolicyError, match="backtracks catastrophically"):
        compile_bounded(pattern)


def test_every_search_has_a_budget(monkeypatch):
    # Quadratic on a run of digits (64,000 digits: two minutes), like the shipped n-day-result.
    quadratic = compile_bounded(r"(?:[0-9]+|[一二]+)(?:天|日)", name="n-days", probe=False)
    monkeypatch.setattr(safe_regex, "CALL_MAX_S", 0.05)
    monkeypatch.setattr(safe_regex, "CALL_BASE_S", 0.05)
    started = time.monotonic()
    with pytest.raises(PatternBudgetError, match="n-days"):
        quadratic.finditer("1" * 100_000)
    assert time.monotonic() - started < 5.0


def test_invalid_and_regex_only_syntax_is_a_policy_error():
    for pattern in ("(", r"\p{Han}+"):
        with pytest.raises(PolicyError, match="invalid regular expression"):
            compile_bounded(pattern)


# -- row 4 -------------------------------------------------------------------------------------------

def test_evidence_quotes_a_bounded_window():
    text = "好" * 30_000 + "加微信" + "好" * 30_000
    span = TextSpan.around(text, 30_000, 30_003, context=80)
    assert span.matched == "加微信" and len(span.text) == 163
    assert (span.source_start, span.source_end, span.source_length) == (30_000, 30_003, 60_003)
    huge = TextSpan.around("x" * 10 + "y" * 100_000, 10, 100_010, context=5, max_match=400)
    assert len(huge.text) <= 410 and huge.source_start == 10
    whole = TextSpan.around("加微信", 0, 3)
    assert whole.offset == 0 and whole.source_length is None and whole.text == "加微信"


def test_report_of_repeated_violations_stays_linear():
    text = "全网第一的面霜，加微信购买。" * 1000
    spans = [TextSpan.around(text, i, i + 4) for i in range(0, len(text), 14)]
    size = sum(len(s.model_dump_json()) for s in spans)
    assert size < 400 * len(spans)   # the whole text in each would be 14,000 x 1,000 characters


# -- row 11 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("filler", ["\u3164", "\uffa0", "\u1160", "\u115f", "\u2800"])
def test_hangul_fillers_do_not_hide_terms(matcher, filler):
    assert any(m.kind.value == "offplatform_lure" for m in matcher.match(f"加{filler}微信"))
    assert any(m.kind.value == "absolute_term" for m in matcher.match(f"全网第{filler}一"))


# -- row 14 ------------------------------------------------------------------------------------------

class _CountingClassifier:
    labels = CLASSIFIER_LABELS
    name = "counting"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts):
        self.calls += 1
        rows = np.zeros((len(texts), len(self.labels)))
        rows[:, self.labels.index("compliant")] = 1.0
        return rows


@pytest.fixture(scope="module")
def lexicon_analyzer():
    return TextAnalyzer(policy=load_policy())


def _run(analyzer, lines: list[bytes]) -> list[dict]:
    rows = list(run_text_command(lines, analyzer=analyzer))
    for row in rows:   # strict JSON: no NaN/Infinity anywhere
        json.loads(json.dumps(row, allow_nan=False))
    return rows


@pytest.mark.parametrize("line", [b'{"modality":"speech","text":"x","t_start":1e999}',
                                  b'{"modality":"speech","text":"x","t_start":-5}',
                                  b'{"modality":"speech","text":"x","t_start":9,"t_end":3}',
                                  b'{"modality":"speech","text":"x","t_start":NaN}'])
def test_bad_times_are_reported_per_line(lexicon_analyzer, line):
    rows = _run(lexicon_analyzer, [line, "全网第一".encode()])
    assert "error" in rows[0] and "findings" not in rows[0]
    assert rows[1]["findings"]   # the next line is still checked


def test_invalid_utf8_is_replaced_not_echoed(lexicon_analyzer, tmp_path):
    rows = _run(lexicon_analyzer, [b"\xff\xfe\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1\n"])
    assert rows[0]["warnings"] and "\ufffd" in rows[0]["text"]
    assert rows[0]["findings"]
    json.dumps(rows[0], ensure_ascii=False).encode("utf-8")   # encodable: no lone surrogates
    from liveinspect.cli import main

    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xff\xfe bad\n")
    assert main(["text", str(path), "--lexicon-only"]) == 0   # was: UnicodeDecodeError


def test_classifier_is_called_once_per_batch_not_per_line():
    classifier = _CountingClassifier()
    analyzer = TextAnalyzer(policy=load_policy(), classifier=classifier)
    lines = [f"第{i}件商品今天发货".encode() for i in range(BATCH_LINES * 2 + 10)]
    rows = _run(analyzer, lines)
    assert len(rows) == len(lines) and all("findings" in r for r in rows)
    # One sentence per line: each batch of lines is scored in calls of the analyzer's batch size.
    batches = [BATCH_LINES, BATCH_LINES, 10]
    assert classifier.calls == sum(math.ceil(n / analyzer.batch_size) for n in batches) < len(lines) / 20


def test_overlong_lines_are_refused_per_line(lexicon_analyzer):
    rows = _run(lexicon_analyzer, [b"a" * 300_000, "全网第一".encode()])
    assert "at most" in rows[0]["error"] and rows[1]["findings"]


def test_a_busy_machine_does_not_refuse_a_linear_pattern(monkeypatch):
    """The probe's budget is CPU time: a probe whose wall-clock timeout fires before its thread got
    the CPU (a busy node) is retried under the wall bound, not refused; one that really spends the
    CPU time is refused at once."""
    import regex

    compile_regex = regex.compile
    timeouts = []

    class Starved:
        """A compiled pattern on a machine so busy that the first, short timeout always fires."""

        def __init__(self, pattern, flags):
            self.compiled = compile_regex(pattern, flags)

        def finditer(self, text, timeout):
            timeouts.append(timeout)
            if timeout == safe_regex.PROBE_TIMEOUT_S:
                raise TimeoutError("regex timed out")   # before this thread spent any CPU time
            return self.compiled.finditer(text, timeout=timeout)

    monkeypatch.setattr(safe_regex.regex, "compile", Starved)
    safe_regex._probe_once.cache_clear()
    try:
        compile_bounded(r"(?:[0-9]{1,3})天见效", name="linear")
        assert safe_regex.PROBE_TIMEOUT_S in timeouts and safe_regex.PROBE_WALL_S in timeouts
        monkeypatch.undo()
        started = time.monotonic()
        with pytest.raises(PolicyError, match="CPU time"):
            compile_bounded(r"(a|aa)+$")
        assert time.monotonic() - started < safe_regex.PROBE_WALL_S
    finally:
        safe_regex._probe_once.cache_clear()
