"""Forensic ranges -> anomalies, and the calibrated fusion (weights, Platt, threshold)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.evaluation.metrics import ece
from detectors.image.anomalies import FeatureRanges
from detectors.image.fusion import Fusion, fit_fusion
from detectors.image.metrics import summary


def _ranges() -> FeatureRanges:
    rng = np.random.default_rng(0)
    rows = [{"noise_level": float(v), "double_jpeg": float(d)} for v, d in zip(rng.normal(3, 0.5, 400), rng.uniform(0, 0.2, 400), strict=True)]
    return FeatureRanges.fit(rows, source="test")


def test_anomaly_only_outside_the_real_range(tmp_path):
    ranges = _ranges()
    r = ranges.ranges["noise_level"]
    assert ranges.anomalies({"noise_level": r.median, "double_jpeg": 0.1}) == []
    # "double_jpeg" is suspicious only when high: a low value is no anomaly
    assert ranges.anomalies({"double_jpeg": -5.0}) == []
    width = r.hi - r.lo
    low = ranges.anomalies({"noise_level": r.lo - 0.1 * width})
    high = ranges.anomalies({"noise_level": r.lo - 2 * width})
    assert [a.severity for a in low] == ["low"] and [a.severity for a in high] == ["high"]
    a = high[0]
    assert a.type == "Texture anomaly" and "less sensor noise" in a.description and a.normal_range == (float(f"{r.lo:.4g}"), float(f"{r.hi:.4g}"))
    assert ranges.score({"noise_level": r.lo - 2 * width}) == pytest.approx(2.0)
    ranges.save(tmp_path / "r.json")
    again = FeatureRanges.load(tmp_path / "r.json")
    assert again.ranges["noise_level"] == r


def _component_rows(n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Rows where 'whole' and 'face' carry signal, 'forensic' is noise that anti-correlates."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    rows = []
    for i, label in enumerate(y):
        row = {"whole": rng.normal(1.5 * label, 1.0), "forensic": rng.normal(-0.8 * label, 1.0), "face": None}
        if i % 3:
            row["face"] = rng.normal(2.0 * label, 1.0)
        rows.append(row)
    return rows, y


def test_fusion_weights_are_non_negative_and_calibrated(tmp_path):
    rows, y = _component_rows(600)
    fusion = fit_fusion(rows, y, fitted_on="synthetic")
    assert fusion.with_face["forensic"] == 0.0  # a negative weight is dropped, not used backwards
    assert fusion.with_face["face"] > 0 and fusion.with_face["whole"] > 0
    assert fusion.without_face["whole"] > 0
    assert 0.0 < fusion.threshold < 1.0
    # monotone: more fake evidence never lowers p
    assert fusion.probability({"whole": 2.0, "face": 2.0, "forensic": 0}) > fusion.probability({"whole": 0.0, "face": 0.0, "forensic": 0})
    # calibrated on fresh data from the same distribution
    test_rows, ty = _component_rows(3000, seed=1)
    p = np.array([fusion.probability(r) for r in test_rows])
    assert ece(ty, p) < 0.06
    m = summary(p, ty, fusion.threshold)
    assert m["auc"] > 0.8 and abs(m["tpr"] - m["tnr"]) < 0.1  # EER threshold balances the errors
    fusion.save(tmp_path / "fusion.json")
    again = Fusion.load(tmp_path / "fusion.json")
    assert again.probability(test_rows[0]) == pytest.approx(fusion.probability(test_rows[0]))
    assert set(again.component_calibration) == {"whole", "face", "forensic"}


def test_ece_and_summary_on_known_values():
    p = np.array([0.9, 0.9, 0.1, 0.1])
    y = np.array([1, 1, 0, 0])
    assert ece(y, p) == pytest.approx(0.1)
    m = summary(p, y, 0.5)
    assert m["auc"] == 1.0 and m["eer"] == 0.0 and m["accuracy"] == 1.0
    assert summary(np.array([0.2]), np.array([1]), 0.5)["tpr"] == 0.0


def test_log_features_are_reported_in_natural_units():
    rows = [{"face_noise_ratio": float(v)} for v in np.linspace(-1.0, 1.0, 50)]  # log2 ratios 0.5x..2x
    ranges = FeatureRanges.fit(rows)
    (a,) = ranges.anomalies({"face_noise_ratio": 3.0}, where="face 1")
    assert a.value == 8.0 and a.normal_range[0] == pytest.approx(0.5, rel=0.02) and a.normal_range[1] == pytest.approx(2.0, rel=0.02)
    assert "8.00x" in a.description and a.type == "Facial inconsistency"
