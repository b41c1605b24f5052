"""The evaluation metrics on constructed scores whose AUC, EER, ECE and operating point are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.evaluation import metrics as M

# 4 reals, 4 fakes; one fake (0.4) below one real (0.6): 15 of 16 pairs ordered -> AUC 15/16.
# At threshold 0.6: one real called fake (FPR 1/4), one fake missed (FNR 1/4) -> EER 0.25.
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])


def test_perfect_separation_gives_auc_1_eer_0():
    y = [0, 0, 0, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    assert M.auc(y, p) == 1.0
    rate, t = M.eer(y, p)
    assert rate == 0.0
    assert 0.3 < t <= 0.7  # any threshold between the classes separates them
    op = M.at_threshold(y, p, t)
    assert op["accuracy"] == 1.0 and op["fp"] == 0 and op["fn"] == 0


def test_reversed_scores_give_auc_0_eer_1():
    y = [0, 0, 0, 1, 1, 1]
    p = [0.7, 0.8, 0.9, 0.1, 0.2, 0.3]
    assert M.auc(y, p) == 0.0
    assert M.eer(y, p)[0] == 1.0


def test_known_auc_and_eer():
    assert M.auc(Y, P) == pytest.approx(15 / 16)
    rate, t = M.eer(Y, P)
    assert rate == pytest.approx(0.25)
    assert t == pytest.approx(0.6)


def test_eer_interpolates_between_roc_points():
    # 2 reals, 1 fake in the middle: FNR/FPR cross between ROC points (0, 0) ... (0.5, 1).
    y = [0, 1, 0]
    p = [0.2, 0.5, 0.8]
    # ROC points (fpr, tpr): (0,0) (0.5,0) (0.5,1) (1,1); FNR-FPR: 1, 0.5, -0.5 -> crossing at FPR 0.5
    assert M.eer(y, p)[0] == pytest.approx(0.5)
    assert M.auc(y, p) == pytest.approx(0.5)


def test_ece_hand_computed():
    # Bin [0, 0.1]: p 0.05, 0.05 with 1 fake of 2 -> |0.5 - 0.05| = 0.45, weight 1/2.
    # Bin (0.9, 1]: p 0.95, 0.95, both fake -> |1 - 0.95| = 0.05, weight 1/2.  ECE = 0.25.
    assert M.ece([0, 1, 1, 1], [0.05, 0.05, 0.95, 0.95]) == pytest.approx(0.25)
    # One example per bin: gaps 0.1, 0.6, 0.6, 0.1 -> ECE 0.35.
    assert M.ece([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.35)


def test_ece_zero_when_calibrated():
    assert M.ece([0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25]) == pytest.approx(0.0)


def test_reliability_bins_match_sklearn_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(3)
    p = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p).astype(int)
    bins = M.reliability_bins(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    used = bins.count > 0
    np.testing.assert_allclose(bins.frac_fake[used], prob_true)
    np.testing.assert_allclose(bins.mean_pred[used], prob_pred)
    assert bins.count.sum() == 300


def test_at_threshold_counts_and_rates():
    op = M.at_threshold(Y, P, 0.5)
    # called fake: 0.6 (real), 0.7, 0.8, 0.9 (fakes)
    assert (op["tp"], op["fp"], op["tn"], op["fn"]) == (3, 1, 3, 1)
    assert op["accuracy"] == pytest.approx(6 / 8)
    assert op["precision"] == pytest.approx(3 / 4)
    assert op["recall"] == pytest.approx(3 / 4)
    assert op["fpr"] == pytest.approx(1 / 4)
    # p == threshold counts as fake (the service's rule: fake when p >= threshold)
    assert M.at_threshold([1], [0.5], 0.5)["tp"] == 1


def test_single_class_is_nan_with_note_not_an_error():
    s = M.summarize([0, 0, 0], [0.1, 0.2, 0.9], threshold=0.5)
    assert math.isnan(s["auc"]) and math.isnan(s["eer"])
    assert all(math.isnan(v) for v in s["auc_ci"])
    assert M.ONE_CLASS_NOTE in s["notes"]
    assert math.isnan(s["recall"])
    assert s["fp"] == 1 and s["accuracy"] == pytest.approx(2 / 3)
    assert not math.isnan(s["ece"])


def test_empty_input_is_nan():
    s = M.summarize([], [], threshold=0.5)
    assert s["n"] == 0 and math.isnan(s["auc"]) and math.isnan(s["accuracy"])
    assert "no scored files" in s["notes"]


def test_precision_undefined_when_nothing_called_fake():
    s = M.summarize([0, 1], [0.1, 0.2], threshold=0.9)
    assert math.isnan(s["precision"])
    assert any("precision undefined" in n for n in s["notes"])


def test_bootstrap_ci_contains_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    p = np.clip(np.r_[rng.normal(0.35, 0.15, 60), rng.normal(0.6, 0.15, 40)], 0, 1)
    point = M.auc(y, p)
    lo, hi = M.bootstrap_ci(M.auc, y, p, n=300, seed=1)
    assert lo <= point <= hi
    assert 0.0 < hi - lo < 0.4
    assert (lo, hi) == M.bootstrap_ci(M.auc, y, p, n=300, seed=1)
    elo, ehi = M.bootstrap_ci(M.eer, y, p, n=300, seed=1)  # eer returns (rate, threshold)
    assert elo <= M.eer(y, p)[0] <= ehi


def test_bootstrap_ci_narrows_with_more_data():
    rng = np.random.default_rng(1)

    def width(n):
        y = np.r_[np.zeros(n, int), np.ones(n, int)]
        p = np.clip(np.r_[rng.normal(0.4, 0.2, n), rng.normal(0.6, 0.2, n)], 0, 1)
        lo, hi = M.bootstrap_ci(M.auc, y, p, n=300, seed=0)
        return hi - lo

    assert width(400) < width(20)


def test_summarize_has_every_metric():
    s = M.summarize(Y, P, threshold=0.5, n_boot=200)
    for key in ("auc", "auc_ci", "eer", "eer_threshold", "eer_ci", "ece", "accuracy", "precision", "recall", "notes"):
        assert key in s
    assert s["auc"] == pytest.approx(15 / 16) and s["eer"] == pytest.approx(0.25)
    assert s["n_real"] == 4 and s["n_fake"] == 4


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        M.auc([0, 1], [0.1])
    with pytest.raises(ValueError):
        M.auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        M.auc([0, 1], [0.1, float("nan")])


def test_auc_matches_roc_auc_score_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.uniform(size=200), 1)  # many ties
    assert M.auc(y, p) == pytest.approx(roc_auc_score(y, p))
