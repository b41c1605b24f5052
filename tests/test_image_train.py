"""``deepfake-train image`` end to end on a tiny generated data set (slow: runs the real command)."""

from __future__ import annotations

import csv
import json

import cv2
import pytest
from PIL import Image

from tests.media_factory import synthetic_face_image


def _dataset(root, n: int = 10) -> None:
    rows = []
    split = {"image": {"train": ["a/real", "a/fake"], "val": ["b/real", "b/fake"], "test": ["c/real", "c/fake"]}}
    for s_i, src in enumerate("abc"):
        for i in range(n):
            seed = 100 * s_i + i
            real = synthetic_face_image(160, 160, seed=seed)
            # "fakes": re-rendered at half resolution and smoothed
            fake = cv2.resize(cv2.resize(real, (80, 80), interpolation=cv2.INTER_AREA), (160, 160))
            for label, arr in (("real", real), ("fake", fake)):
                rel = f"image/{label}/{src}_{i:03d}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / rel)
                rows.append({"file": rel, "label": label, "modality": "image",
                             "kind": "real-photo" if label == "real" else "gan-face",
                             "source_repo": f"{src}/{label}", "license": "test"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (root / "split.json").write_text(json.dumps(split))


@pytest.mark.slow
def test_train_command_writes_a_loadable_model(tmp_path):
    from detectors.base import create
    from detectors.media import make_media_ref
    from detectors.settings import Settings
    from detectors.training.cli import main

    data, out = tmp_path / "data", tmp_path / "model"
    _dataset(data)
    rc = main(["image", "--data", str(data), "--split", str(data / "split.json"), "--out", str(out),
               "--cache", str(tmp_path / "cache"), "--real-variants", "1", "--sbi-variants", "1",
               "--resample-variants", "1", "--fake-variants", "1", "--c-grid", "0.01"])
    assert rc == 0
    for name in ("head.npz", "fusion.json", "forensic_ranges.json", "metrics.json", "MODEL_CARD.md"):
        assert (out / name).exists(), name
    rec = json.loads((out / "metrics.json").read_text())
    assert rec["data"]["test"] == {"real": 10, "fake": 10, "sources": ["c/fake", "c/real"]}
    assert {"test/as-is/all", "test/jpeg-q90/all", "val/as-is/all"} <= set(rec["metrics"])
    assert 0 < rec["fusion"]["threshold"] < 1
    card = (out / "MODEL_CARD.md").read_text()
    assert "deepfake-train image" in card and "Held-out test sources" in card
    det = create("image-default", settings=Settings(environment="test"), model_dir=out)
    det.load()
    res = det.analyze(make_media_ref(data / "image/real/c_000.png", "image"))
    assert res.verdict in ("real", "fake") and res.model_used.startswith("image-default")
