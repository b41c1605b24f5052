"""``deepfake-train audio`` end to end on a few files per source (needs ../shared/data)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_training_writes_a_checkpoint_the_detector_loads(shared_data, tmp_path):
    from detectors import base
    from detectors.audio.train import main
    from detectors.settings import Settings

    out = tmp_path / "audio"
    argv = [
        "--data",
        str(shared_data),
        "--out",
        str(out),
        "--seed",
        "0",
        "--limit",
        "3",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--augment-copies",
        "1",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    for name in ("lcnn_lfcc.pt", "feature_model.json", "fusion.json", "training.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "training.json").read_text())
    assert info["seed"] == 0 and "val" in info and info["train_files"] > 0
    fusion = json.loads((out / "fusion.json").read_text())
    assert fusion["fitted_on"].startswith("val sources") and 0 < fusion["threshold"] <= 1
    det = base.create("audio-default", settings=Settings(environment="test"), model_dir=out)
    det.load()
    assert det.missing is None and det.model is not None
