"""Typed settings fail loudly; the result schema speaks the usage guide's field names."""

from __future__ import annotations

import pytest

from detectors.calibration import Calibration, fit_platt
from detectors.schema import AnalysisResult, Anomaly, inconclusive_fields, verdict_fields
from detectors.settings import Settings


def test_production_refuses_to_start_without_api_key():
    with pytest.raises(ValueError, match="PYTHON_SERVICE_API_KEY"):
        Settings(environment="production", secret_key="s3cret-value", python_service_api_key="")


def test_bad_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("MAX_VIDEO_FRAMES", "zero")
    with pytest.raises(ValueError):
        Settings()
    monkeypatch.setenv("MAX_VIDEO_FRAMES", "30")
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ValueError):
        Settings()


def test_guide_variables_are_read_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHON_SERVICE_API_KEY", "k-123456")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "m"))
    monkeypatch.setenv("UPLOAD_FOLDER", "relative/temp")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    s = Settings()
    assert s.auth_enabled and s.python_service_api_key.get_secret_value() == "k-123456"
    assert s.model_path == tmp_path / "m"
    assert s.upload_folder.is_absolute()
    assert "k-123456" not in repr(s)  # secrets never print


def test_result_serialises_with_guide_names():
    result = AnalysisResult(
        media_type="video", model_used="m", anomalies=[Anomaly(type="t", severity="high", description="d")],
        total_frames=10, analyzed_frames=2, fps=25.0, deepfake_frame_ratio=0.5, **verdict_fields(0.9, 0.6),
    )
    body = result.to_json_dict()
    for key in ("isDeepfake", "confidence", "processingTime", "mediaType", "timestamp", "modelUsed", "anomalies",
                "totalFrames", "analyzedFrames", "fps", "deepfakeFrameRatio", "fakeProbability", "verdict"):
        assert key in body
    assert body["isDeepfake"] is True and body["confidence"] == 90.0 and body["timestamp"].endswith("Z")


def test_confidence_is_the_probability_of_the_stated_verdict():
    assert verdict_fields(0.2, 0.5)["confidence"] == 80.0
    fields = verdict_fields(0.85, 0.6)
    assert fields["verdict"] == "fake" and fields["confidence"] == 85.0  # honest, not rescaled
    fields = verdict_fields(0.45, 0.4)  # never "fake" under 50 %: the gap to 0.5 is inconclusive
    assert fields["verdict"] == "inconclusive" and not fields["is_deepfake"] and fields["verdict_reason"]
    inc = inconclusive_fields("no speech")
    assert inc["verdict"] == "inconclusive" and inc["confidence"] == 0.0 and not inc["is_deepfake"]


def test_platt_calibration_round_trip(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(-1, 1, 200), rng.normal(1.5, 1, 200)]
    labels = np.r_[np.zeros(200), np.ones(200)]
    cal = fit_platt(scores, labels)
    assert cal.a > 0
    assert cal.probability(3.0) > 0.9 and cal.probability(-3.0) < 0.1
    cal.save(tmp_path / "c.json")
    again = Calibration.load(tmp_path / "c.json")
    assert again.probability(0.3) == pytest.approx(cal.probability(0.3))
    assert 0.05 < again.threshold < 0.95
