"""The verdict policy: two operating points split p(fake) into real / inconclusive / fake."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.calibration import OperatingPoints, fit_operating_points
from detectors.pipeline import detector_status, operating_points_of
from detectors.schema import AnalysisResult, as_operating_points, operating_points_info, verdict_fields

OPS = OperatingPoints(real_below=0.3, fake_above=0.8, fitted_on="val", measured={"real_called_fake": 0.04})


@pytest.mark.parametrize(
    ("p", "verdict", "confidence"),
    [(0.95, "fake", 95.0), (0.8, "fake", 80.0), (0.79, "inconclusive", 0.0), (0.3, "inconclusive", 0.0),
     (0.29, "real", 71.0), (0.0, "real", 100.0)],
)
def test_three_verdicts_from_operating_points(p, verdict, confidence):
    f = verdict_fields(p, OPS)
    assert f["verdict"] == verdict and f["confidence"] == confidence
    assert f["is_deepfake"] is (verdict == "fake")
    assert ("verdict_reason" in f) is (verdict == "inconclusive")
    if verdict == "inconclusive":
        assert "between the operating points" in f["verdict_reason"] and "0.30" in f["verdict_reason"]
    body = AnalysisResult(media_type="image", model_used="m", **f).to_json_dict()
    assert body["operatingPoints"] == {"realBelow": 0.3, "fakeAbove": 0.8} and body["threshold"] == 0.8


def test_single_threshold_of_old_models():
    f = verdict_fields(0.7, 0.5)  # t = 0.5: both points equal, no band
    assert f["verdict"] == "fake" and f["confidence"] == 70.0
    assert verdict_fields(0.49, 0.5)["verdict"] == "real"
    ops = as_operating_points(0.4)  # below 0.5: [0.4, 0.5) would be "fake" under 50 %: inconclusive
    assert (ops.real_below, ops.fake_above) == (0.4, 0.5)
    assert verdict_fields(0.45, 0.4)["verdict"] == "inconclusive"
    assert verdict_fields(0.6, 0.7)["verdict"] == "inconclusive"  # "real" over 50 % would be as wrong
    assert as_operating_points(OPS.to_dict()) == OPS


def test_never_fake_under_fifty_percent_even_from_bad_stored_points():
    bad = OperatingPoints(real_below=0.6, fake_above=0.2)
    rng = np.random.default_rng(0)
    for p in rng.uniform(0, 1, 500):
        f = verdict_fields(float(p), bad)
        if f["verdict"] == "fake":
            assert f["confidence"] >= 50 and f["is_deepfake"]
        elif f["verdict"] == "real":
            assert f["confidence"] >= 50 and not f["is_deepfake"]
        else:
            assert not f["is_deepfake"]


def test_fitted_points_hold_their_error_rates_on_the_fitting_data():
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(500), np.ones(500)].astype(int)
    p = np.r_[rng.beta(2, 4, 500), rng.beta(4, 2, 500)]
    ops = fit_operating_points(p, y, fitted_on="test data")
    verdicts = np.array([verdict_fields(float(v), ops)["verdict"] for v in p])
    assert np.mean(verdicts[y == 0] == "fake") <= 0.05
    assert np.mean(verdicts[y == 1] == "real") <= 0.05
    assert (verdicts == "inconclusive").any()
    info = operating_points_info(ops)
    assert info["fakeAbove"] == ops.fake_above and info["measured"]["n_real"] == 500


class _Fusion:
    threshold = 0.62


class _Det:
    name, modality = "stand-in", "image"

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def info(self):
        return {"name": self.name, "modality": self.modality, "loaded": True}


def test_status_shows_each_detectors_points():
    assert operating_points_of(_Det(operating_points=OPS))["realBelow"] == 0.3
    old = operating_points_of(_Det(fusion=_Fusion()))
    assert (old["realBelow"], old["fakeAbove"]) == (0.5, 0.62)
    assert operating_points_of(_Det()) is None
    status = detector_status(_Det(operating_points=OPS))
    assert status["operating_points"]["measured"] == {"real_called_fake": 0.04}


def test_api_status_collects_points_by_detector():
    from deployments.api import collect_operating_points

    deployments = {"image_model": {"image": detector_status(_Det(operating_points=OPS)), "pid": 1},
                   "aggregator": {"image": detector_status(_Det(operating_points=OPS)), "pid": 2},
                   "audio": {"error": "TimeoutError"}}
    got = collect_operating_points(deployments)
    assert list(got) == ["stand-in"] and got["stand-in"]["fakeAbove"] == 0.8 and got["stand-in"]["modality"] == "image"
