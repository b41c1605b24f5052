"""``deepfake-train video`` end to end on generated clips (stand-in image/audio detectors), and the
committed fusion weights against their model card."""

from __future__ import annotations

import csv
import json

import pytest

import tests.standin_detectors  # noqa: F401  (registers image-standin / audio-standin)
from detectors.settings import PROJECT_ROOT, get_settings
from detectors.video import train
from detectors.video.fusion import FUSION_FILE, FusionModel
from detectors.video.synthetic import write_talking_video


@pytest.fixture()
def tiny_dataset(tmp_path, monkeypatch):
    """10 generated clips from 3 'sources' (one per split): reals lip-synced, fakes flickering and dubbed."""
    monkeypatch.setenv("MAX_VIDEO_FRAMES", "6")
    get_settings.cache_clear()
    data = tmp_path / "data"
    (data / "video").mkdir(parents=True)
    rows = []
    sources = {"train": "src/a", "val": "src/b", "test": "src/c"}
    for side, repo in sources.items():
        n_each = 2 if side == "train" else 1
        for label in ("real", "fake"):
            for k in range(n_each + (1 if side == "train" else 0)):
                name = f"video/{side}_{label}_{k}.mp4"
                fake = label == "fake"
                write_talking_video(data / name, seconds=2.5, fps=10, size=(160, 120), lip_sync=not fake,
                                    boundary_flicker=0.6 if fake else 0.0, seed=len(rows))
                rows.append({"file": name, "label": label, "modality": "video", "kind": f"{label}-video",
                             "source_repo": repo, "source_path": name, "source_commit": "0", "license": "test",
                             "label_evidence": "generated"})
    with open(data / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"video": {side: [repo] for side, repo in sources.items()}}))
    yield data, split
    get_settings.cache_clear()


@pytest.mark.slow
def test_train_writes_fusion_metrics_and_model_card(tiny_dataset, tmp_path):
    data, split = tiny_dataset
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    argv = ["--data", str(data), "--split", str(split), "--out", str(out), "--cache", str(cache),
            "--image-detector", "image-standin", "--audio-detector", "audio-standin",
            "--features", "face_track_max,boundary_colour_flicker,lip_sync,audio_logit", "--reencode", "h264-low"]
    assert train.main(argv) == 0
    model = FusionModel.load(out / FUSION_FILE)
    assert model.features == ["face_track_max", "boundary_colour_flicker", "lip_sync", "audio_logit"]
    assert model.info["image_detector"] == "image-standin" and model.info["videos"] == {"train": 6, "val": 2, "test": 2}
    assert 0.0 < model.calibration.threshold <= 1.0
    assert "boundary_colour_flicker" in model.ranges
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"train", "val", "test"} <= set(metrics) and metrics["test"]["n"] == 2
    card = (out / "MODEL_CARD.md").read_text()
    assert "deepfake-train video" in card and "| test |" in card and "src/c: test" in card
    # The flickering, dubbed fakes are separable by construction: the fit must find that on train.
    assert metrics["train"]["auc"] == 1.0
    assert model.operating_points is not None and model.operating_points.real_below <= 0.5 <= model.operating_points.fake_above
    assert metrics["test h264-low"]["n"] == 2 and "real_called_fake" in metrics["test"]
    # A second run reuses the feature cache (no extraction): same model.
    before = sorted((p, p.stat().st_mtime_ns) for p in cache.rglob("*.npz"))
    parts = [p for p, _ in before if p.parts[-4].startswith("video-train-")]
    assert len(parts) == 2 * 10 + 2 * 2  # video and audio parts per clip, plus the re-encoded test clips
    assert "Leave-one-generator-family-out" in card and "logo" in metrics
    assert train.main(argv) == 0
    assert sorted((p, p.stat().st_mtime_ns) for p in cache.rglob("*.npz")) == before
    assert FusionModel.load(out / FUSION_FILE).coef == model.coef


def test_train_refuses_bad_input(tmp_path):
    assert train.main(["--data", str(tmp_path)]) == 2
    (tmp_path / "manifest.csv").write_text("file,label,modality,kind,source_repo\n")
    assert train.main(["--data", str(tmp_path), "--features", "no_such_feature"]) == 2


def test_committed_fusion_matches_its_model_card():
    path = PROJECT_ROOT / "models" / "video" / FUSION_FILE
    if not path.exists():
        pytest.skip("no trained video fusion committed yet")
    model = FusionModel.load(path)
    card = (path.parent / "MODEL_CARD.md").read_text()
    assert "deepfake-train video" in card and model.info["version"] in card
    assert len(model.coef) == len(model.features) and 0 < model.calibration.threshold <= 1
    assert path.stat().st_size < 50_000
