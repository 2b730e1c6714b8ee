"""Every metric against values worked out by hand; calibration and bootstrap behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.errors import DataError
from liveinspect.eval.bootstrap import bootstrap_interval
from liveinspect.eval.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    softmax,
)
from liveinspect.eval.metrics import (
    accuracy,
    cer,
    confusion_matrix,
    corpus_error_rate,
    edit_distance,
    equal_error_rate,
    one_vs_rest_auc,
    precision_recall_f1,
    roc_auc,
    roc_curve,
    threshold_at_fpr,
    wer,
)

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_confusion_matrix() -> None:
    assert confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    with pytest.raises(DataError):
        confusion_matrix([0, 3], [0, 1], 3)


def test_precision_recall_f1_by_hand() -> None:
    report = precision_recall_f1(Y_TRUE, Y_PRED, ["a", "b", "c"])
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (c["precision"], c["recall"], c["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert [a["support"], b["support"], c["support"]] == [2, 2, 2]
    assert report["macro"]["f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert report["macro"]["precision"] == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)
    assert report["accuracy"] == pytest.approx(4 / 6) == accuracy(Y_TRUE, Y_PRED)


def test_never_predicted_class_has_zero_precision() -> None:
    report = precision_recall_f1([0, 1], [0, 0], ["a", "b"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_roc_auc_with_ties_by_hand() -> None:
    # pairs (pos, neg): 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 -> 3.5 / 4
    assert roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)
    assert roc_auc([1, 0], [0.2, 0.8]) == 0.0
    with pytest.raises(DataError):
        roc_auc([1, 1], [0.2, 0.8])


def test_roc_curve_points() -> None:
    curve = roc_curve([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
    assert curve.fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert curve.tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert curve.thresholds.tolist() == [np.inf, 0.9, 0.5, 0.1]


def test_eer_on_known_scores() -> None:
    # positives 0.9 0.8 0.4, negatives 0.7 0.3 0.2: at threshold 0.7 one positive is
    # missed (FNR 1/3) and one negative passes (FPR 1/3).
    eer, threshold = equal_error_rate([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.3, 0.2])
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.7)


def test_eer_interpolates_across_a_tied_step() -> None:
    # From (FPR 0, FNR 0.5) the tie at 0.5 jumps to (FPR 0.5, FNR 0): the rates meet halfway.
    eer, threshold = equal_error_rate([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.5)
    assert equal_error_rate([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])[0] == 0.0


def test_threshold_at_target_fpr() -> None:
    y, s = [1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.3, 0.2]
    strict = threshold_at_fpr(y, s, 0.0)
    assert (strict["threshold"], strict["fpr"], strict["tpr"]) == pytest.approx((0.8, 0.0, 2 / 3))
    loose = threshold_at_fpr(y, s, 0.34)
    assert (loose["threshold"], loose["fpr"], loose["tpr"]) == pytest.approx((0.4, 1 / 3, 1.0))
    with pytest.raises(DataError):
        threshold_at_fpr(y, s, 1.5)


def test_one_vs_rest_auc() -> None:
    probabilities = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.7, 0.3]])
    out = one_vs_rest_auc([0, 0, 1, 1], probabilities, ["a", "b"])
    # label a: positives 0.8, 0.6 vs negatives 0.3, 0.7 -> 3 of 4 pairs
    assert out["a"] == pytest.approx(0.75) and out["b"] == pytest.approx(0.75)
    assert out["macro"] == pytest.approx(0.75)
    assert one_vs_rest_auc([0, 0], probabilities[:2], ["a", "b"])["a"] is None


def test_wer_and_cer_by_hand() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert wer("the cat sat on the mat", "the cat sit on mat") == pytest.approx(2 / 6)
    assert wer("a b", "a b c") == pytest.approx(0.5)
    assert wer("", "") == 0.0 and wer("", "x") == float("inf")
    assert cer("三天祛斑", "三天去斑") == pytest.approx(0.25)
    assert cer("全网 第一", "全网第一") == 0.0
    assert corpus_error_rate(["a b c d", "e f"], ["a x c d", "e f g"]) == pytest.approx(2 / 6)
    assert corpus_error_rate(["三天祛斑"], ["天祛斑"], unit="char") == pytest.approx(0.25)


def test_ece_and_reliability_by_hand() -> None:
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    y = [0, 1, 1, 1]  # confidences .9 (right) .8 (wrong) .7 (right) .6 (right)
    bins = reliability_bins(probabilities, y, n_bins=4)
    assert bins["counts"].tolist() == [0, 0, 2, 2]
    assert bins["confidence"][2:] == pytest.approx([0.65, 0.85])
    assert bins["accuracy"][2:] == pytest.approx([1.0, 0.5])
    # both bins hold half the rows and are off by 0.35
    assert expected_calibration_error(probabilities, y, n_bins=4) == pytest.approx(0.35)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), [0]) == 0.0


def _overconfident(rows: int, true_temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    calibrated_logits = rng.normal(0.0, 1.5, size=(rows, 4))
    labels = np.array([rng.choice(4, p=p) for p in softmax(calibrated_logits)])
    return calibrated_logits * true_temperature, labels


def test_temperature_scaling_lowers_ece_and_recovers_temperature() -> None:
    logits, labels = _overconfident(4000, 3.0, seed=1)
    before = expected_calibration_error(softmax(logits), labels)
    temperature = fit_temperature(logits, labels)
    after = expected_calibration_error(softmax(logits / temperature), labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert after < before / 3
    assert negative_log_likelihood(logits, labels, temperature) < negative_log_likelihood(logits, labels)


def test_temperature_below_one_for_underconfident_logits() -> None:
    logits, labels = _overconfident(4000, 0.5, seed=2)
    assert fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.1)


def test_bootstrap_interval_contains_value_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(0)

    def interval(rows: int):
        y = rng.integers(0, 2, rows)
        predictions = np.where(rng.random(rows) < 0.8, y, 1 - y)  # about 80% right
        return bootstrap_interval(accuracy, y, predictions, n_resamples=400, seed=3)

    small, large = interval(50), interval(5000)
    for result in (small, large):
        assert result.low <= result.value <= result.high
    assert large.width < small.width / 4  # width shrinks like 1/sqrt(rows): sqrt(100) = 10
    assert 0.77 < large.value < 0.83 and large.low > 0.76 and large.high < 0.84


def test_bootstrap_skips_undefined_resamples_and_rejects_bad_input() -> None:
    # with 2 rows, many resamples hold one class only and AUC is undefined there
    result = bootstrap_interval(roc_auc, np.array([1, 0]), np.array([0.9, 0.1]), n_resamples=200, seed=0)
    assert 0 < result.resamples < 200 and result.value == 1.0
    with pytest.raises(DataError):
        bootstrap_interval(accuracy, np.array([1, 0]), np.array([1]))
